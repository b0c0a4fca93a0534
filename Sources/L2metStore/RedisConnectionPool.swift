import Foundation
import L2metCore
import Synchronization

/// A few `RedisConnection`s shared by every thread of a process, so a flusher and several outlet
/// workers do not queue behind one another. Connections are opened lazily; a broken one is dropped
/// and the next call opens a fresh one. After a failed connect, further connects wait a back-off
/// (50 ms doubling to `maxBackoff`) and calls in that window fail at once with `.unavailable`.
final class RedisConnectionPool: Sendable {
    let url: RedisURL
    let size: Int
    private let connectTimeout: Double
    private let commandTimeout: Double
    private let maxBackoff: Double
    /// The TLS settings every connection of a `rediss://` pool shares (nil for `redis://`).
    private let tls: RedisTLSContext?

    /// Idle connections and the connect back-off.
    private struct State {
        var idle: [IdleConnection] = []
        var backoff = 0.0
        var retryAt: ContinuousClock.Instant?
        var lastConnectError = ""
    }

    private let state = Mutex(State())
    /// One permit per connection that may be open: a caller holds one from `acquire` to `release`.
    private let permits: DispatchSemaphore

    init(url: RedisURL, size: Int, connectTimeout: Double, commandTimeout: Double, maxBackoff: Double = 1.0,
         tls: RedisTLSContext? = nil) {
        self.tls = tls
        self.url = url
        self.size = max(1, size)
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.maxBackoff = maxBackoff
        permits = DispatchSemaphore(value: self.size)
    }

    /// Runs `body` with a connection of its own. `fresh` skips idle connections (used to retry once
    /// after an idle connection turned out dead, e.g. after a Redis restart).
    func withConnection<T>(fresh: Bool = false, _ body: (RedisConnection) throws -> T) throws -> T {
        let connection = try acquire(fresh: fresh)
        defer { release(connection) }
        return try body(connection)
    }

    private func acquire(fresh: Bool) throws -> RedisConnection {
        permits.wait()
        let idle: IdleConnection?
        do {
            idle = try state.withLock { state throws(StoreError) -> IdleConnection? in
                if fresh {
                    // Idle ones may be as stale as the one that just failed: drop them.
                    state.idle.removeAll()
                }
                if let c = state.idle.popLast() { return c }
                let now = ContinuousClock.now
                if let retryAt = state.retryAt, now < retryAt {
                    throw StoreError.unavailable(
                        "\(state.lastConnectError) (next attempt in \(String(format: "%.2f", (retryAt - now).inSeconds))s)")
                }
                return nil
            }
        } catch {
            permits.signal()
            throw error
        }
        if let idle { return idle.connection }
        do {
            let c = try RedisConnection(url: url, connectTimeout: connectTimeout, commandTimeout: commandTimeout, tls: tls)
            state.withLock { state in
                state.backoff = 0
                state.retryAt = nil
            }
            return c
        } catch {
            state.withLock { state in
                state.backoff = min(maxBackoff, max(0.05, state.backoff * 2))
                state.retryAt = .now + .seconds(state.backoff)
                state.lastConnectError = (error as? StoreError).map { "\($0.reason)" } ?? "\(error)"
            }
            permits.signal()
            throw error
        }
    }

    private func release(_ connection: RedisConnection) {
        if !connection.broken {
            let idle = IdleConnection(connection)
            state.withLock { $0.idle.append(idle) }
        }
        permits.signal()
    }
}

/// A connection no thread is using, kept by the pool until one takes it.
///
/// `@unchecked Sendable`: a `RedisConnection` (a hiredis context) is not thread-safe, but an idle one
/// is used by nobody; the pool hands it to exactly one caller at a time, under its lock.
private struct IdleConnection: @unchecked Sendable {
    let connection: RedisConnection
    init(_ connection: RedisConnection) { self.connection = connection }
}

extension StoreError {
    /// The message without the "store unavailable:" prefix.
    var reason: String {
        switch self {
        case .unavailable(let why), .protocolError(let why): return why
        }
    }
}
