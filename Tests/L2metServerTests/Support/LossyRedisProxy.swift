import Foundation

/// A TCP proxy in front of a Redis. When armed, it lets the next request through, drops Redis's reply
/// and cuts that connection (the command ran, its reply is lost), then for `outage` seconds cuts every
/// new connection at once (Redis looks unreachable). Otherwise it passes bytes both ways.
final class LossyRedisProxy: @unchecked Sendable {
    let port: Int
    private let upstreamPort: Int
    private let listener: Int32
    private let lock = NSLock()
    private var armedOutage: Double?
    private var outageUntil = Date.distantPast
    private var dropped = 0
    private var closed = false

    init(upstreamPort: Int) throws {
        self.upstreamPort = upstreamPort
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var on: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        var addr = Self.loopback(port: 0)
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 64) == 0 else {
            Glibc.close(fd)
            throw POSIXError(.EADDRINUSE)
        }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        port = Int(UInt16(bigEndian: addr.sin_port))
        listener = fd
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    var url: String { "redis://127.0.0.1:\(port)" }

    /// The next reply from Redis is dropped, then Redis looks unreachable for `outage` seconds.
    func arm(outage: Double) {
        lock.lock(); armedOutage = outage; lock.unlock()
    }

    var droppedReplies: Int {
        lock.lock(); defer { lock.unlock() }
        return dropped
    }

    func close() {
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
            let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = Self.loopback(port: upstreamPort)
            let ok = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            if ok != 0 {
                Glibc.close(client)
                Glibc.close(server)
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

    private static func loopback(port: Int) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return addr
    }
}
