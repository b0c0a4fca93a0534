import Foundation

/// A TCP server on loopback that takes connections and reads what is sent but never answers: a
/// destination that hangs mid-request. It records the bytes each connection sent.
public final class SilentServer: @unchecked Sendable {
    public let port: Int
    private let listener: Int32
    private let lock = NSLock()
    private var received: [[UInt8]] = []
    private var clients: [Int32] = []
    private var closed = false

    public init() throws {
        let (fd, port) = try Loopback.listen()
        self.port = port
        listener = fd
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    public var url: String { "http://127.0.0.1:\(port)/v1/metrics" }

    /// What each connection sent so far, as text.
    public var requests: [String] {
        lock.lock(); defer { lock.unlock() }
        return received.map { String(decoding: $0, as: UTF8.self) }
    }

    /// Waits until some connection has sent bytes containing `text`, up to `timeout` seconds.
    public func wait(for text: String, timeout: Double) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if requests.contains(where: { $0.contains(text) }) { return true }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return requests.contains { $0.contains(text) }
    }

    /// Closes the listener and every connection.
    public func stop() {
        lock.lock()
        let wasClosed = closed
        closed = true
        let open = clients
        clients = []
        lock.unlock()
        if wasClosed { return }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        for c in open { shutdown(c, Int32(SHUT_RDWR)) }
    }

    deinit { stop() }

    private func acceptLoop() {
        while true {
            let c = accept(listener, nil, nil)
            if c < 0 { return }
            lock.lock()
            if closed {
                lock.unlock()
                close(c)
                return
            }
            let index = received.count
            received.append([])
            clients.append(c)
            lock.unlock()
            Thread.detachNewThread { [self] in readLoop(c, index) }
        }
    }

    private func readLoop(_ fd: Int32, _ index: Int) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            lock.lock()
            received[index].append(contentsOf: buffer[0..<n])
            lock.unlock()
        }
        close(fd)
    }
}
