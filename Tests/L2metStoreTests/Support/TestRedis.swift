import L2metTestSupport
@testable import L2metStore

extension TestRedis {
    /// Runs one command on a connection of its own and returns Redis's reply as l2met reads it.
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
