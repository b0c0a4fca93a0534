import Foundation
import L2metTestSupport
import L2metCrypto
import L2metHTTP
import XCTest

/// `l2met serve` as a child process with Redis and a fake Librato: known lines in, exact gauges out.
final class LibratoEndToEndTests: XCTestCase {
    let user = "ops@example.com"
    let libratoToken = "e2e-librato-token-7f3a9c"

    /// Starts one l2met and returns it with its port.
    func startL2met(key: String, redisURL: String, librato: FakeLibrato, extra: [String] = []) throws -> (ChildProcess, Int) {
        let port = freePort()
        let child = try ChildProcess(["serve", "--port", "\(port)", "--redis-url", redisURL, "--librato-url", librato.url,
                                      "--flush-interval", "0.25", "--outlet-interval", "0.1"] + extra,
                                     environment: ["SECRETS": key])
        XCTAssertTrue(Drain.waitUntilListening(port: port), "l2met did not start: \(child.stdout) \(child.stderr)")
        return (child, port)
    }

    func drainToken(key: String) throws -> String {
        try Keyring(secrets: key).encrypt("\(user):\(libratoToken)", now: Int64(Date().timeIntervalSince1970))
    }

    /// The known lines, all in one second `s`, and the gauges they must become.
    func knownBody(second s: Double) -> String {
        [
            Drain.frame("measure#db.latency=8ms source=web.1", at: s + 0.10),
            Drain.frame("measure#db.latency=4ms", at: s + 0.11, procid: "web.1"),
            Drain.frame("source=web.1 measure#db.latency=42ms measure#db.latency=15ms", at: s + 0.12),
            Drain.frame("measure#db.latency=23ms source=web.1 measure#db.latency=16ms", at: s + 0.13),
            Drain.frame("count#signups=1 count#signups=1", at: s + 0.20),
            Drain.frame("count#signups=2 count#signups", at: s + 0.21),
            Drain.frame("sample#queue=12 source=worker.2", at: s + 0.10),
            Drain.frame("sample#queue=7 source=worker.2", at: s + 0.50),
            Drain.frame("sample#queue=9 source=worker.2", at: s + 0.30),
            Drain.frame("a plain log line with no metric in it", at: s + 0.40),
        ].joined()
    }

    /// Checks the gauges against values worked out by hand.
    func assertKnownGauges(_ gauges: [[String: Any]], second s: Int, file: StaticString = #filePath, line: UInt = #line) {
        func gauge(_ name: String) -> [String: Any]? { gauges.first { $0["name"] as? String == name } }
        func number(_ g: [String: Any]?, _ field: String) -> Double? { (g?[field] as? NSNumber)?.doubleValue }

        // db.latency: 8, 4, 42, 15, 23, 16 (ms), source web.1 (the second line's source is its own:
        // no source= on it, so its measurement has no source and goes to its own bucket).
        let latency = gauges.filter { $0["name"] as? String == "db.latency" }
        let withSource = latency.first { $0["source"] as? String == "web.1" }
        XCTAssertNotNil(withSource, "db.latency from web.1 missing in \(gauges)", file: file, line: line)
        XCTAssertEqual(number(withSource, "count"), 5, file: file, line: line)
        XCTAssertEqual(number(withSource, "sum"), 104, file: file, line: line)   // 8+42+15+23+16
        XCTAssertEqual(number(withSource, "min"), 8, file: file, line: line)
        XCTAssertEqual(number(withSource, "max"), 42, file: file, line: line)
        XCTAssertEqual(number(withSource, "sum_squares"), 2838, file: file, line: line)  // 64+1764+225+529+256
        XCTAssertEqual(withSource?["measure_time"] as? Int, s, file: file, line: line)
        let units = (withSource?["attributes"] as? [String: Any])?["display_units_long"] as? String
        XCTAssertEqual(units, "ms", file: file, line: line)
        // sorted: 8 15 16 23 42; median x[ceil(2.5)] = x3 = 16; perc95 x[ceil(4.75)] = x5 = 42; perc99 = 42
        func valueOf(_ name: String, source: String?) -> Double? {
            let g = gauges.first { $0["name"] as? String == name && $0["source"] as? String == source }
            return number(g, "value")
        }
        XCTAssertEqual(valueOf("db.latency.median", source: "web.1"), 16, file: file, line: line)
        XCTAssertEqual(valueOf("db.latency.perc95", source: "web.1"), 42, file: file, line: line)
        XCTAssertEqual(valueOf("db.latency.perc99", source: "web.1"), 42, file: file, line: line)

        let sourceless = latency.first { $0["source"] == nil }
        XCTAssertEqual(number(sourceless, "count"), 1, file: file, line: line)
        XCTAssertEqual(number(sourceless, "sum"), 4, file: file, line: line)
        XCTAssertEqual(valueOf("db.latency.median", source: nil), 4, file: file, line: line)

        // signups: 1 + 1 + 2 + 1 (bare key) = 5
        XCTAssertEqual(number(gauge("signups"), "value"), 5, file: file, line: line)
        XCTAssertNil(gauge("signups")?["source"], file: file, line: line)
        // queue: values 12 @.10, 7 @.50, 9 @.30 -> the latest timestamp wins: 7
        XCTAssertEqual(number(gauge("queue"), "value"), 7, file: file, line: line)
        XCTAssertEqual(gauge("queue")?["source"] as? String, "worker.2", file: file, line: line)
        XCTAssertEqual(gauge("queue")?["measure_time"] as? Int, s, file: file, line: line)

        // Nothing else, and every gauge exactly once.
        let names = gauges.map { "\($0["name"] as? String ?? "?")/\($0["source"] as? String ?? "-")" }.sorted()
        XCTAssertEqual(names, [
            "db.latency.median/-", "db.latency.median/web.1", "db.latency.perc95/-", "db.latency.perc95/web.1",
            "db.latency.perc99/-", "db.latency.perc99/web.1", "db.latency/-", "db.latency/web.1",
            "queue/worker.2", "signups/-",
        ], file: file, line: line)
    }

    func expectedGaugeCount() -> Int { 10 }

    func testDrainReachesLibratoWithExactValues() throws {
        let key = freshFernetKey()
        let redisServer = try RedisServer()  // a Redis of this test's own
        defer { redisServer.stop() }
        let redis = redisServer.url
        let librato = try FakeLibrato()
        defer { librato.stop() }
        let (l2met, port) = try startL2met(key: key, redisURL: redis, librato: librato)
        let token = try drainToken(key: key)

        let s = Date().timeIntervalSince1970.rounded(.down)
        XCTAssertEqual(try Drain.post(port: port, body: knownBody(second: s), token: token, query: "resolution=1"), 200)
        XCTAssertTrue(librato.wait { _ in librato.gauges.count >= self.expectedGaugeCount() },
                      "gauges did not arrive: \(librato.requests.count) requests; l2met said \(l2met.stdout)")
        Thread.sleep(forTimeInterval: 1)  // nothing more may come
        assertKnownGauges(librato.gauges, second: Int(s))

        let request = librato.requests[0]
        XCTAssertEqual(request.header("authorization"), "Basic " + Data("\(user):\(libratoToken)".utf8).base64EncodedString())
        XCTAssertEqual(request.header("content-type"), "application/json")
        XCTAssertTrue(request.header("user-agent")?.hasPrefix("l2met/") ?? false)

        // A drain with a wrong token is refused.
        let other = try Keyring(secrets: freshFernetKey()).encrypt("x:y", now: Int64(s))
        XCTAssertEqual(try Drain.post(port: port, body: knownBody(second: s), token: other, query: "resolution=1"), 401)
        XCTAssertEqual(try Drain.post(port: port, body: knownBody(second: s), token: nil, query: "resolution=1"), 401)

        XCTAssertEqual(l2met.stop(), 0)
        // No secret in anything it printed.
        let printed = l2met.stdout + l2met.stderr
        XCTAssertFalse(printed.contains(libratoToken), "the Librato token leaked into the logs")
        XCTAssertFalse(printed.contains(key), "a Fernet key leaked into the logs")
        XCTAssertFalse(printed.contains(token), "a drain token leaked into the logs")
    }

    func testServerErrorsAreRetriedUntilAccepted() throws {
        let key = freshFernetKey()
        let redisServer = try RedisServer()  // a Redis of this test's own
        defer { redisServer.stop() }
        let redis = redisServer.url
        let librato = try FakeLibrato(script: [.text(500, "oops"), .text(503, "busy")])
        defer { librato.stop() }
        let (l2met, port) = try startL2met(key: key, redisURL: redis, librato: librato)
        defer { _ = l2met.stop() }
        let s = Date().timeIntervalSince1970.rounded(.down)
        XCTAssertEqual(try Drain.post(port: port, body: knownBody(second: s), token: try drainToken(key: key),
                                      query: "resolution=1"), 200)
        XCTAssertTrue(librato.wait { _ in librato.gauges.count >= self.expectedGaugeCount() },
                      "gauges did not arrive after retries: \(librato.requests.map(\.status)); \(l2met.stdout)")
        Thread.sleep(forTimeInterval: 1)
        XCTAssertEqual(Array(librato.requests.map(\.status).prefix(3)), [500, 503, 200])
        XCTAssertEqual(librato.requests[0].body, librato.requests[2].body, "the retry must send the same gauges")
        assertKnownGauges(librato.gauges, second: Int(s))
    }

    func testTooManyRequestsHonoursRetryAfter() throws {
        let key = freshFernetKey()
        let redisServer = try RedisServer()  // a Redis of this test's own
        defer { redisServer.stop() }
        let redis = redisServer.url
        let librato = try FakeLibrato(script: [HTTPResponse(status: 429, headers: [("Retry-After", "2")],
                                                            body: Array("{\"errors\":{\"request\":[\"rate limited\"]}}".utf8))])
        defer { librato.stop() }
        let (l2met, port) = try startL2met(key: key, redisURL: redis, librato: librato)
        defer { _ = l2met.stop() }
        let s = Date().timeIntervalSince1970.rounded(.down)
        XCTAssertEqual(try Drain.post(port: port, body: knownBody(second: s), token: try drainToken(key: key),
                                      query: "resolution=1"), 200)
        XCTAssertTrue(librato.wait { _ in librato.gauges.count >= self.expectedGaugeCount() },
                      "gauges did not arrive after 429: \(librato.requests.map(\.status)); \(l2met.stdout)")
        let r = librato.requests
        XCTAssertEqual(r[0].status, 429)
        XCTAssertGreaterThanOrEqual(r[1].at.timeIntervalSince(r[0].at), 1.9, "Retry-After: 2 was not honoured")
        assertKnownGauges(librato.gauges, second: Int(s))
    }
}
