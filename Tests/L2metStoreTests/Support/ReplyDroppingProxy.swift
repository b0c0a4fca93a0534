import Foundation

/// A TCP proxy in front of a Redis that, when armed, lets one request through and then cuts the
/// connection instead of passing the reply back: a lost reply after the command ran.
final class ReplyDroppingProxy: @unchecked Sendable {
    let port: Int
    private let upstreamPort: Int
    private let listener: Int32
    private let state = Locked<(armed: Bool, dropped: Int, closed: Bool)>((false, 0, false))

    init(upstreamPort: Int) throws {
        self.upstreamPort = upstreamPort
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var on: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        var addr = Self.loopback(port: 0)
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 16) == 0 else { throw POSIXError(.EADDRINUSE) }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &len) }
        }
        port = Int(UInt16(bigEndian: addr.sin_port))
        self.listener = listener
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    /// The next reply from Redis is dropped and its connection closed.
    func arm() { state.update { $0.armed = true } }
    var droppedReplies: Int { state.value.dropped }

    func close() {
        state.update { $0.closed = true }
        shutdown(listener, Int32(SHUT_RDWR))
        Glibc.close(listener)
    }

    deinit { close() }

    private func acceptLoop() {
        while !state.value.closed {
            let client = accept(listener, nil, nil)
            if client < 0 { return }
            let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = Self.loopback(port: upstreamPort)
            let ok = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            if ok != 0 { Glibc.close(client); Glibc.close(server); continue }
            Thread.detachNewThread { Self.pump(from: client, to: server, dropping: nil) }
            Thread.detachNewThread { [self] in Self.pump(from: server, to: client, dropping: self) }
        }
    }

    /// Copies bytes until either side closes. For replies (`dropping` set): when armed, waits a
    /// moment (so the whole pipeline has run), then closes both sockets without passing anything on.
    private static func pump(from: Int32, to: Int32, dropping proxy: ReplyDroppingProxy?) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(from, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            if let proxy {
                var drop = false
                proxy.state.update { s in
                    if s.armed { s.armed = false; s.dropped += 1; drop = true }
                }
                if drop {
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
