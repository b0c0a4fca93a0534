import Foundation
import L2metTestSupport
import XCTest
@testable import L2metStore

/// The shared test Redis at `$REDIS_URL` (scripts/test starts one), one database per test.
enum TestRedis {
    /// `$REDIS_URL` pointed at `db`, emptied first. Fails the test when `$REDIS_URL` is unset: these
    /// tests need a real Redis, and scripts/test always starts one.
    static func freshURL(db: Int) throws -> String {
        guard let base = ProcessInfo.processInfo.environment["REDIS_URL"], !base.isEmpty else {
            throw RedisTestSetupError()
        }
        var url = try RedisURL(parsing: base)
        url.database = db
        try command(url, ["FLUSHDB"])
        let auth = url.password.map { "\(url.user ?? ""):\($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0)@" } ?? ""
        return "redis://\(auth)\(url.host):\(url.port)/\(db)"
    }

    /// Runs one command on a connection of its own.
    @discardableResult
    static func command(_ url: RedisURL, _ args: [String]) throws -> RedisReply {
        let c = try RedisConnection(url: url, connectTimeout: 2, commandTimeout: 10)
        return try c.pipeline([RedisCommand(args)])[0]
    }

    @discardableResult
    static func command(_ url: String, _ args: [String]) throws -> RedisReply {
        try command(RedisURL(parsing: url), args)
    }
}

/// A redis-server of a test's own, on a free port (for restarts and passwords).
final class RedisServerProcess {
    let port: Int
    let directory: URL
    private let extra: [String]
    private var process: Process?

    init(port: Int = freePort(), arguments: [String] = []) throws {
        self.port = port
        self.extra = arguments
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("l2met-store-redis-\(port)-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try start()
    }

    var url: String { "redis://127.0.0.1:\(port)" }

    /// Starts redis-server and waits until it accepts connections.
    func start() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["redis-server", "--port", "\(port)", "--bind", "127.0.0.1", "--save", "",
                       "--dir", directory.path] + extra
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        let until = Date().addingTimeInterval(10)
        while Date() < until {
            if canConnect() { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw StoreError.unavailable("test redis-server on port \(port) did not start")
    }

    /// Stops it (SIGTERM) and waits for it to exit.
    func stop() {
        guard let p = process else { return }
        p.terminate()
        p.waitUntilExit()
        process = nil
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    private func canConnect() -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}


/// The tests were run without the Redis that scripts/test provides.
struct RedisTestSetupError: Error, CustomStringConvertible {
    var description: String { "REDIS_URL is not set: run the tests through scripts/test, which starts a redis-server" }
}
