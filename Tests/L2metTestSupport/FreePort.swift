import Foundation

/// A TCP port on 127.0.0.1 that nobody listens on right now (bound, read, released).
///
/// Taken below the kernel's ephemeral range (32768 and up on Linux), where outgoing connections take
/// their local ports: a port handed out here is not grabbed by a client socket (a test's thousands of
/// connections, say) before the server it is for binds it. A port is never handed out twice by one
/// test process, so a port reserved for a server started later is not given to another.
public func freePort() -> Int {
    PortPicker.shared.next()
}

final class PortPicker: @unchecked Sendable {  // `given` is guarded by `lock`
    static let shared = PortPicker()
    private let lock = NSLock()
    private var given: Set<Int> = []

    func next() -> Int {
        lock.lock()
        defer { lock.unlock() }
        for _ in 0..<500 {
            let port = Int.random(in: 10_000...32_000)
            if given.contains(port) || !bindable(port) { continue }
            given.insert(port)
            return port
        }
        // Fall back to a port of the kernel's choosing.
        guard let listener = try? Loopback.listen() else { return 0 }
        close(listener.fd)
        given.insert(listener.port)
        return listener.port
    }

    private func bindable(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var on: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}
