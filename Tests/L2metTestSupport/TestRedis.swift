import Foundation

/// Commands to a test's Redis (a `RedisServer` of its own, so tests never share data and may run
/// in parallel) from outside l2met: `redis-cli`, as an operator would type them.
public enum TestRedis {
    /// Runs `redis-cli -u URL args…` and returns its output.
    @discardableResult
    public static func cli(_ url: String, _ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["redis-cli", "-u", url] + args
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}
