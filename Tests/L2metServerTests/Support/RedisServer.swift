import Foundation
import L2metTestSupport

/// A redis-server of a test's own on a free loopback port, so a test can stop and restart it, and
/// none shares its data with another test. Persistence is off unless `arguments` turn it on.
final class RedisServer {
    let port: Int
    let directory: URL
    private let arguments: [String]
    private var process: Process?

    init(port: Int = freePort(), arguments: [String] = []) throws {
        self.port = port
        self.arguments = arguments
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("l2met-server-redis-\(port)-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try start()
    }

    var url: String { "redis://127.0.0.1:\(port)" }

    /// Starts redis-server and waits until it answers PING.
    func start() throws {
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
            if (try? TestRedis.cli(url, ["PING"]))?.contains("PONG") == true { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw TestSetupError("redis-server on port \(port) did not start")
    }

    /// Stops it: SIGTERM (a clean shutdown, which writes the append-only file when it is on), or
    /// SIGKILL (a crash).
    func stop(signal: Int32 = SIGTERM) {
        guard let p = process else { return }
        kill(p.processIdentifier, signal)
        p.waitUntilExit()
        process = nil
    }

    deinit {
        stop(signal: SIGKILL)
        try? FileManager.default.removeItem(at: directory)
    }
}
