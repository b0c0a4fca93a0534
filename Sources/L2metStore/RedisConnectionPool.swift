import Foundation

/// A few `RedisConnection`s shared by every thread of a process, so a flusher and several outlet
/// workers do not queue behind one another. Connections are opened lazily; a broken one is dropped
/// and the next call opens a fresh one. After a failed connect, further connects wait a back-off
/// (50 ms doubling to `maxBackoff`) and calls in that window fail at once with `.unavailable`.
final class RedisConnectionPool: @unchecked Sendable {
    let url: RedisURL
    let size: Int
    private let connectTimeout: Double
    private let commandTimeout: Double
    private let maxBackoff: Double
    /// The TLS settings every connection of a `rediss://` pool shares (nil for `redis://`).
    private let tls: RedisTLSContext?

    private let condition = NSCondition()
    private var idle: [RedisConnection] = []
    private var open = 0
    private var backoff = 0.0
    private var retryAt = Date.distantPast
    private var lastConnectError = ""

    init(url: RedisURL, size: Int, connectTimeout: Double, commandTimeout: Double, maxBackoff: Double = 1.0,
         tls: RedisTLSContext? = nil) {
        self.tls = tls
        self.url = url
        self.size = max(1, size)
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.maxBackoff = maxBackoff
    }

    /// Runs `body` with a connection of its own. `fresh` skips idle connections (used to retry once
    /// after an idle connection turned out dead, e.g. after a Redis restart).
    func withConnection<T>(fresh: Bool = false, _ body: (RedisConnection) throws -> T) throws -> T {
        let connection = try acquire(fresh: fresh)
        do {
            let result = try body(connection)
            release(connection)
            return result
        } catch {
            release(connection)
            throw error
        }
    }

    private func acquire(fresh: Bool) throws -> RedisConnection {
        condition.lock()
        while true {
            if fresh, !idle.isEmpty {
                // Idle ones may be as stale as the one that just failed: drop them.
                open -= idle.count
                idle.removeAll()
            }
            if let c = idle.popLast() {
                condition.unlock()
                return c
            }
            if open < size { break }
            condition.wait()
        }
        let now = Date()
        if now < retryAt {
            let wait = retryAt.timeIntervalSince(now)
            let why = lastConnectError
            condition.unlock()
            throw StoreError.unavailable("\(why) (next attempt in \(String(format: "%.2f", wait))s)")
        }
        open += 1
        condition.unlock()
        do {
            let c = try RedisConnection(url: url, connectTimeout: connectTimeout, commandTimeout: commandTimeout, tls: tls)
            condition.lock()
            backoff = 0
            retryAt = .distantPast
            condition.unlock()
            return c
        } catch {
            condition.lock()
            open -= 1
            backoff = min(maxBackoff, max(0.05, backoff * 2))
            retryAt = Date().addingTimeInterval(backoff)
            lastConnectError = (error as? StoreError).map { "\($0.reason)" } ?? "\(error)"
            condition.signal()
            condition.unlock()
            throw error
        }
    }

    private func release(_ connection: RedisConnection) {
        condition.lock()
        if connection.broken {
            open -= 1
        } else {
            idle.append(connection)
        }
        condition.signal()
        condition.unlock()
    }
}

extension StoreError {
    /// The message without the "store unavailable:" prefix.
    var reason: String {
        switch self {
        case .unavailable(let why), .protocolError(let why): return why
        }
    }
}
