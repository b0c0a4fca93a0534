import Foundation
import L2metTestSupport
import L2metCrypto
import XCTest

/// Redis restarts while a receiver runs. With an append-only file, what was flushed before the restart
/// survives it, what came in while Redis was down is written once it is back, and every line answered
/// 200 is in Redis exactly once.
final class RedisRestartTests: XCTestCase {
    func testEveryLineAnswered200SurvivesARestartOfARedisWithAppendOnlyFile() throws {
        let redis = try RedisServer(arguments: ["--appendonly", "yes", "--appendfsync", "always"])
        let key = freshFernetKey()
        let port = freePort()
        let l2met = try ChildProcess(["serve", "--receiver", "--port", "\(port)", "--redis-url", redis.url,
                                      "--flush-interval", "0.2"], environment: ["SECRETS": key])
        defer { _ = l2met.stop(signal: SIGKILL) }
        XCTAssertTrue(Drain.waitUntilListening(port: port), "l2met did not start: \(l2met.stdout)")
        let token = try Keyring(secrets: key).encrypt("restart@example.com:restart-token-c2", now: Int64(Date().timeIntervalSince1970))

        var accepted = 0.0
        func post(_ n: Int, value: Int) throws {
            let now = Date().timeIntervalSince1970
            var body = ""
            for _ in 0..<n { body += Drain.frame("count#survives=\(value)", at: now) }
            XCTAssertEqual(try Drain.post(port: port, body: body, token: token, query: "resolution=60"), 200)
            accepted += Double(n * value)
        }
        func stored() -> Bool {
            !((try? TestRedis.cli(redis.url, ["--raw", "KEYS", "l2met:b:*"])) ?? "").isEmpty
        }
        func waitFor(_ what: String, _ predicate: () -> Bool) {
            let end = Date().addingTimeInterval(30)
            while !predicate() && Date() < end { Thread.sleep(forTimeInterval: 0.05) }
            XCTAssertTrue(predicate(), "\(what): \(l2met.stdout)")
        }
        func flushes() -> Int {
            let page = (try? Drain.get(port: port, path: "/metrics").1) ?? ""
            let line = page.split(separator: "\n").first { $0.hasPrefix("l2met_flushes_total ") }
            return line.flatMap { Int(Double($0.split(separator: " ")[1]) ?? 0) } ?? 0
        }

        // 1. Flushed into Redis before the restart.
        try post(10, value: 1)
        waitFor("the first drain was not flushed") { stored() }
        // 2. A clean restart.
        redis.stop()
        try post(10, value: 10)  // held by the receiver while Redis is down
        waitFor("the flush did not fail while Redis was down") { l2met.stdout.contains("store append failed") }
        try redis.start()
        waitFor("the receiver did not write what it held once Redis was back") { l2met.stdout.contains("store is back") }
        // 3. A crash (SIGKILL): the append-only file is fsynced at every write.
        let before = flushes()
        try post(10, value: 100)
        waitFor("the third drain was not flushed") { flushes() > before }
        redis.stop(signal: SIGKILL)
        try redis.start()
        try post(10, value: 1000)
        XCTAssertEqual(l2met.stop(signal: SIGTERM), 0, l2met.stdout)

        let survived = try L2metStoreAccess.claimAll(redis.url).filter { $0.key.name == "survives" }
        XCTAssertEqual(survived.reduce(0.0) { $0 + $1.data.sum }, accepted, "every line answered 200, once")
        XCTAssertEqual(accepted, 11110)
    }
}
