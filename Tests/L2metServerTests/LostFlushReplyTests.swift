import Foundation
import L2metTestSupport
import L2metCrypto
import XCTest

/// Redis applies a flush but its reply is lost, and Redis then stays out of reach longer than the
/// store's own retry window: the receiver keeps the batch and, once Redis answers, retries it under
/// the same flush id, so the counts are stored once, not twice.
final class LostFlushReplyTests: XCTestCase {
    func testAFlushWhoseReplyWasLostIsNotCountedTwice() throws {
        let redis = try RedisServer()
        let proxy = try LossyRedisProxy(upstreamPort: redis.port)
        defer { proxy.close() }
        let key = freshFernetKey()
        let port = freePort()
        let l2met = try ChildProcess(["serve", "--receiver", "--port", "\(port)", "--redis-url", proxy.url,
                                      "--flush-interval", "0.2"], environment: ["SECRETS": key])
        defer { _ = l2met.stop(signal: SIGKILL) }
        XCTAssertTrue(Drain.waitUntilListening(port: port), "l2met did not start: \(l2met.stdout)")
        let token = try Keyring(secrets: key).encrypt("lost@example.com:lost-token-0b7a", now: Int64(Date().timeIntervalSince1970))

        // The next flush runs in Redis, its reply is dropped, then Redis is out of reach for longer
        // than the 5 s RedisStore retries a lost reply with the same id by itself.
        proxy.arm(outage: 7)
        let now = Date().timeIntervalSince1970
        var body = ""
        for _ in 0..<25 { body += Drain.frame("count#once=1", at: now) }
        XCTAssertEqual(try Drain.post(port: port, body: body, token: token, query: "resolution=60"), 200)
        XCTAssertTrue(l2met.waitForOutput("store append failed, keeping buckets in memory", timeout: 30), l2met.stdout)
        XCTAssertEqual(proxy.droppedReplies, 1, "the proxy must have dropped the flush's reply")
        XCTAssertTrue(l2met.waitForOutput("store is back", timeout: 30), l2met.stdout)
        XCTAssertEqual(l2met.stop(signal: SIGTERM), 0, l2met.stdout)

        let once = try L2metStoreAccess.claimAll(redis.url).filter { $0.key.name == "once" }
        XCTAssertEqual(once.reduce(0.0) { $0 + $1.data.sum }, 25, "25 lines answered 200 must be counted once")
        XCTAssertEqual(once.reduce(0) { $0 + $1.data.count }, 25)
    }
}
