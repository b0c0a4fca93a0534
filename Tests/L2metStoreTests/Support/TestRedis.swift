import Foundation
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

/// The tests were run without the Redis that scripts/test provides.
struct RedisTestSetupError: Error, CustomStringConvertible {
    var description: String { "REDIS_URL is not set: run the tests through scripts/test, which starts a redis-server" }
}
