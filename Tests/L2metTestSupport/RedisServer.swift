import Foundation

/// A redis-server of a test's own on a free loopback port, in a temporary directory, so a test can
/// stop and restart it, and none shares its data with another test. Persistence is off unless
/// `arguments` (added after the defaults, so they win) turn it on.
public final class RedisServer {
    public let port: Int
    public let directory: URL
    private let arguments: [String]
    private var process: Process?

    public init(port: Int = freePort(), arguments: [String] = []) throws {
        // A Redis stopped or restarted under a test's connections: writes to them must fail with EPIPE,
        // not kill the test process with SIGPIPE (l2met ignores it too).
        signal(SIGPIPE, SIG_IGN)
        self.port = port
        self.arguments = arguments
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("l2met-test-redis-\(port)-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try start()
    }

    public var url: String { "redis://127.0.0.1:\(port)" }

    /// Starts redis-server and waits until it takes commands.
    public func start() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["redis-server", "--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                       "--dir", directory.path] + arguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        let until = Date().addingTimeInterval(15)
        while Date() < until {
            if isReady() { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw StartError(description: "redis-server on port \(port) did not start")
    }

    /// Stops it: SIGTERM (a clean shutdown, which writes the append-only file when it is on), or
    /// SIGKILL (a crash).
    public func stop(signal: Int32 = SIGTERM) {
        guard let p = process else { return }
        kill(p.processIdentifier, signal)
        p.waitUntilExit()
        process = nil
    }

    deinit {
        stop(signal: SIGKILL)
        try? FileManager.default.removeItem(at: directory)
    }

    /// Whether a raw `PING` on a connection of its own is answered with anything but `-LOADING`:
    /// `+PONG`, `-NOAUTH` behind a password, or a closed connection from a TLS-only port, which drops
    /// plain text. No answer within a second is not ready.
    private func isReady() -> Bool {
        guard let fd = Loopback.connect(port: port) else { return false }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let ping = Array("PING\r\n".utf8)
        guard ping.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == ping.count else { return false }
        var reply = [UInt8](repeating: 0, count: 64)
        let n = reply.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 { return errno == ECONNRESET }
        return !reply[0..<n].starts(with: Array("-LOADING".utf8))
    }

    /// redis-server did not take commands in time.
    public struct StartError: Error, CustomStringConvertible {
        public let description: String
    }
}
