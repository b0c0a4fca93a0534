import Foundation
import L2metTestSupport
import L2metCrypto
import XCTest

/// Two receivers and two outlets on one Redis: every bucket reaches Librato exactly once, summed.
final class ScaleTests: XCTestCase {
    func testTwoReceiversTwoOutletsDeliverEachBucketOnce() throws {
        let key = freshFernetKey()
        let redisServer = try RedisServer()  // a Redis of this test's own
        defer { redisServer.stop() }
        let redis = redisServer.url
        let librato = try FakeLibrato()
        defer { librato.stop() }
        let env = ["SECRETS": key]
        let common = ["--redis-url", redis, "--librato-url", librato.url, "--flush-interval", "0.25",
                      "--outlet-interval", "0.1", "--partitions", "4"]
        var receivers: [(ChildProcess, Int)] = []
        for _ in 0..<2 {
            let port = freePort()
            receivers.append((try ChildProcess(["serve", "--receiver", "--port", "\(port)"] + common, environment: env), port))
        }
        var outlets: [ChildProcess] = []
        for _ in 0..<2 {
            outlets.append(try ChildProcess(["serve", "--outlet", "--port", "\(freePort())"] + common, environment: env))
        }
        defer {
            for r in receivers { _ = r.0.stop() }
            for o in outlets { _ = o.stop() }
        }
        for (child, port) in receivers {
            XCTAssertTrue(Drain.waitUntilListening(port: port), "receiver did not start: \(child.stdout)")
        }
        let token = try Keyring(secrets: key).encrypt("scale@example.com:tok", now: Int64(Date().timeIntervalSince1970))

        // 40 drains over 2 receivers, for about 2 seconds; each: 10 count#hits=1 and measure#work=1..10,
        // from 3 sources.
        var sent = 0
        for i in 0..<40 {
            let now = Date().timeIntervalSince1970
            var body = ""
            for j in 1...10 {
                body += Drain.frame("source=web.\(j % 3) count#hits=1 measure#work=\(j)ms", at: now)
            }
            let port = receivers[i % 2].1
            XCTAssertEqual(try Drain.post(port: port, body: body, token: token, query: "resolution=1"), 200)
            sent += 10
            Thread.sleep(forTimeInterval: 0.05)
        }
        func hitsTotal() -> Double {
            librato.gauges.filter { $0["name"] as? String == "hits" }.reduce(0) { $0 + (($1["value"] as? NSNumber)?.doubleValue ?? 0) }
        }
        XCTAssertTrue(librato.wait(timeout: 40) { _ in hitsTotal() >= Double(sent) },
                      "hits arrived: \(hitsTotal()) of \(sent)")
        Thread.sleep(forTimeInterval: 2)  // a duplicate would show up by now
        XCTAssertEqual(hitsTotal(), Double(sent))

        // Every (name, source, time) exactly once.
        let ids = librato.gauges.map { "\($0["name"] ?? "")|\($0["source"] ?? "")|\($0["measure_time"] ?? "")" }
        XCTAssertEqual(ids.count, Set(ids).count, "some bucket was posted twice")
        let workCount = librato.gauges.filter { $0["name"] as? String == "work" }
            .reduce(0) { $0 + (($1["count"] as? NSNumber)?.intValue ?? 0) }
        let workSum = librato.gauges.filter { $0["name"] as? String == "work" }
            .reduce(0.0) { $0 + (($1["sum"] as? NSNumber)?.doubleValue ?? 0) }
        XCTAssertEqual(workCount, sent)
        XCTAssertEqual(workSum, Double(40 * 55))
    }
}
