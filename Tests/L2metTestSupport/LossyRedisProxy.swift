import Foundation

/// A TCP proxy in front of a Redis. When armed, it lets the next request through, drops Redis's reply
/// and cuts that connection (the command ran, its reply is lost), then for `outage` seconds cuts every
/// new connection at once (Redis looks unreachable). Otherwise it passes bytes both ways.
public final class LossyRedisProxy: @unchecked Sendable {
    public let port: Int
    private let upstreamPort: Int
    private let listener: Int32
    private let lock = NSLock()
    private var armedOutage: Double?
    private var outageUntil = Date.distantPast
    private var dropped = 0
    private var closed = false

    public init(upstreamPort: Int) throws {
        // The proxy cuts connections both ways: a write to a cut socket (its own, or hiredis's in this
        // process) must fail with EPIPE, not kill the test process with SIGPIPE (l2met ignores it too).
        signal(SIGPIPE, SIG_IGN)
        self.upstreamPort = upstreamPort
        (listener, port) = try Loopback.listen()
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    public var url: String { "redis://127.0.0.1:\(port)" }

    /// The next reply from Redis is dropped and its connection cut, then Redis looks unreachable for
    /// `outage` seconds.
    public func arm(outage: Double = 0) {
        lock.lock(); armedOutage = outage; lock.unlock()
    }

    /// How many replies were dropped so far.
    public var droppedReplies: Int {
        lock.lock(); defer { lock.unlock() }
        return dropped
    }

    /// Stops taking connections (those open stay until either side closes).
    public func close() {
        lock.lock()
        let was = closed
        closed = true
        lock.unlock()
        if was { return }
        shutdown(listener, Int32(SHUT_RDWR))
        Glibc.close(listener)
    }

    deinit { close() }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 { return }
            lock.lock()
            let cut = closed || Date() < outageUntil
            lock.unlock()
            if cut {
                Glibc.close(client)
                continue
            }
            guard let server = Loopback.connect(port: upstreamPort) else {
                Glibc.close(client)
                continue
            }
            Thread.detachNewThread { Self.pump(from: client, to: server, proxy: nil) }
            Thread.detachNewThread { [self] in Self.pump(from: server, to: client, proxy: self) }
        }
    }

    /// Copies bytes until either side closes. For replies (`proxy` set): when armed, drops what was
    /// read after a moment (so the whole pipeline has run) and cuts both sockets.
    private static func pump(from: Int32, to: Int32, proxy: LossyRedisProxy?) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(from, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            if let proxy {
                proxy.lock.lock()
                let outage = proxy.armedOutage
                if let outage {
                    proxy.armedOutage = nil
                    proxy.dropped += 1
                    proxy.outageUntil = Date().addingTimeInterval(outage)
                }
                proxy.lock.unlock()
                if outage != nil {
                    Thread.sleep(forTimeInterval: 0.3)
                    break
                }
            }
            var sent = 0
            while sent < n {
                let m = buffer.withUnsafeBytes { write(to, $0.baseAddress! + sent, n - sent) }
                if m <= 0 { break }
                sent += m
            }
        }
        shutdown(from, Int32(SHUT_RDWR))
        shutdown(to, Int32(SHUT_RDWR))
        Glibc.close(from)
    }
}
