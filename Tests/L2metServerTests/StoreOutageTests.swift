import Foundation
import L2metTestSupport
import XCTest

/// Redis down: /health says so, drains are kept in memory (then refused past the bound), and when
/// Redis is back everything answered 2xx gets there.
final class StoreOutageTests: XCTestCase {
    func testReceiverKeepsDrainsWhileRedisIsDownAndDeliversWhenBack() throws {
        let redisPort = freePort()
        let redisURL = "redis://127.0.0.1:\(redisPort)"
        let key = freshFernetKey()
        let librato = try FakeLibrato()
        defer { librato.stop() }
        let port = freePort()
        let l2met = try ChildProcess(["serve", "--port", "\(port)", "--redis-url", redisURL, "--librato-url", librato.url,
                                      "--flush-interval", "0.2", "--outlet-interval", "0.1", "--memory-limit", "50000"],
                                     environment: ["SECRETS": key])
        defer { _ = l2met.stop() }
        XCTAssertTrue(Drain.waitUntilListening(port: port), "l2met did not start: \(l2met.stdout)")
        XCTAssertEqual(try Drain.get(port: port, path: "/health").0, 503, "health must fail while Redis is down")

        let token = try L2metCryptoHelper.token(key: key, plaintext: "down@example.com:tok")
        var accepted = 0
        var refused = 0
        // Keep posting 100 counts a drain until the memory bound turns drains away (or 200 drains).
        for _ in 0..<200 {
            let now = Date().timeIntervalSince1970
            var body = ""
            for i in 0..<100 { body += Drain.frame("count#kept=1 measure#size=\(i)", at: now) }
            let status = try Drain.post(port: port, body: body, token: token, query: "resolution=60")
            if status == 200 { accepted += 100 } else { XCTAssertEqual(status, 503); refused += 1; break }
        }
        XCTAssertGreaterThan(accepted, 0)
        XCTAssertEqual(refused, 1, "past the memory bound drains must get 503")

        // Redis comes back.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("l2met-outage-\(redisPort)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let redis = Process()
        redis.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        redis.arguments = ["redis-server", "--port", "\(redisPort)", "--bind", "127.0.0.1", "--save", "",
                           "--appendonly", "no", "--dir", dir.path]
        redis.standardOutput = FileHandle.nullDevice
        try redis.run()
        defer { redis.terminate(); redis.waitUntilExit() }

        let healthy = { (try? Drain.get(port: port, path: "/health").0) == 200 }
        let end = Date().addingTimeInterval(20)
        while !healthy() && Date() < end { Thread.sleep(forTimeInterval: 0.1) }
        XCTAssertTrue(healthy(), "health must recover with Redis")

        // Stop l2met: on SIGTERM it flushes; the outlet posts what is due. Resolution 60 buckets are not
        // due yet, so read them from Redis directly.
        XCTAssertEqual(l2met.stop(), 0, l2met.stdout)
        let out = try TestRedis.cli(redisURL, ["--raw", "KEYS", "*"])
        XCTAssertTrue(out.contains("kept"), "the kept counter did not reach Redis: \(out)")
        let store = try L2metStoreAccess.claimAll(redisURL)
        let kept = store.filter { $0.key.name == "kept" }.reduce(0.0) { $0 + $1.data.sum }
        XCTAssertEqual(kept, Double(accepted), "every count answered 200 must arrive")
    }
}
