import Foundation
import L2metTestSupport
import L2metCore
import L2metStore
import XCTest

/// SIGTERM: stop accepting, finish, flush, exit 0 within 10 seconds, and lose nothing answered 2xx.
final class ShutdownTests: XCTestCase {
    func testLocalModeSigtermPrintsEverythingItAccepted() throws {
        let port = freePort()
        let l2met = try ChildProcess(["serve", "--port", "\(port)"])
        XCTAssertTrue(Drain.waitUntilListening(port: port), "l2met did not start: \(l2met.stdout)")
        XCTAssertTrue(l2met.waitForOutput("local mode", timeout: 10), "local mode is not announced: \(l2met.stdout)")
        let now = Date().timeIntervalSince1970
        let body = Drain.frame("count#orders=3 measure#render=12.5ms source=web.3", at: now)
            + Drain.frame("count#orders=4", at: now)
        // resolution 60: the interval is still open when the signal comes.
        XCTAssertEqual(try Drain.post(port: port, body: body), 200)
        let began = Date()
        XCTAssertEqual(l2met.stop(signal: SIGTERM, timeout: 12), 0, l2met.stdout)
        XCTAssertLessThan(Date().timeIntervalSince(began), 10)
        let out = l2met.stdout
        // source= applies to every metric of its line: the first line's orders come from web.3, the
        // second line's have no source, so they are two buckets.
        let lines = out.split(separator: "\n").filter { $0.hasPrefix("at=metric") }
        XCTAssertTrue(lines.contains { $0.contains("name=orders ") && $0.contains("source=web.3") && $0.contains("value=3") },
                      "the counter from web.3 was not printed on SIGTERM: \(out)")
        XCTAssertTrue(lines.contains { $0.contains("name=orders ") && !$0.contains("source=") && $0.contains("value=4") },
                      "the sourceless counter was not printed on SIGTERM: \(out)")
        XCTAssertTrue(out.contains("name=render") && out.contains("source=web.3"), "the measurement was not printed: \(out)")
    }

    func testReceiverSigtermFlushesToRedis() throws {
        let redisServer = try RedisServer()  // a Redis of this test's own
        defer { redisServer.stop() }
        let redis = redisServer.url
        let port = freePort()
        let key = freshFernetKey()
        // A long flush interval: only the shutdown flush can have put the data in Redis.
        let l2met = try ChildProcess(["serve", "--receiver", "--port", "\(port)", "--redis-url", redis,
                                      "--flush-interval", "60"], environment: ["SECRETS": key])
        XCTAssertTrue(Drain.waitUntilListening(port: port), "l2met did not start: \(l2met.stdout)")
        let token = try L2metCryptoHelper.token(key: key, plaintext: "u:t")
        let now = Date().timeIntervalSince1970
        var body = ""
        for i in 1...50 { body += Drain.frame("count#jobs=\(i)", at: now) }
        XCTAssertEqual(try Drain.post(port: port, body: body, token: token), 200)
        XCTAssertEqual(l2met.stop(signal: SIGTERM, timeout: 12), 0, l2met.stdout)

        let store = try RedisStore(url: redis)
        let claimed = try store.claim(partition: 0, now: Int64.max / 2, limit: 100, lease: 60)
        let jobs = claimed.filter { $0.key.name == "jobs" }
        XCTAssertEqual(jobs.count, 1, "expected one jobs bucket in Redis, got \(claimed.map(\.key))")
        XCTAssertEqual(jobs.first?.data.sum, Double(50 * 51 / 2))
        XCTAssertEqual(jobs.first?.key.token, token)
    }
}
