import Foundation
import L2metCrypto
import L2metHTTP
import L2metTestSupport
import XCTest

/// `l2met serve` as a child process: one drain whose token names an OTLP collector and one whose token
/// is plain `user:token`, side by side; each reaches its own destination.
final class OTLPEndToEndTests: XCTestCase {
    func testOTLPAndLibratoDrainsEachReachTheirDestination() throws {
        let key = freshFernetKey()
        let redisServer = try RedisServer()  // a Redis of this test's own
        defer { redisServer.stop() }
        let redis = redisServer.url
        let librato = try FakeLibrato()
        defer { librato.stop() }
        let collector = try FakeLibrato()
        defer { collector.stop() }
        let port = freePort()
        let l2met = try ChildProcess(["serve", "--port", "\(port)", "--redis-url", redis, "--librato-url", librato.url,
                                      "--flush-interval", "0.25", "--outlet-interval", "0.1"],
                                     environment: ["SECRETS": key])
        defer { _ = l2met.stop() }
        XCTAssertTrue(Drain.waitUntilListening(port: port), "l2met did not start: \(l2met.stdout) \(l2met.stderr)")

        let now = Int64(Date().timeIntervalSince1970)
        let keyring = try Keyring(secrets: key)
        let apiKey = "otlp-api-key-5d1e"
        let otlpToken = keyring.encrypt(
            "otlp+http://127.0.0.1:\(collector.port)/v1/metrics#x-api-key=\(apiKey)&service.name=shop", now: now)
        let libratoToken = keyring.encrypt("ops@example.com:librato-secret-9", now: now)
        let unknown = keyring.encrypt("gopher://example.com/metrics", now: now)

        let s = Date().timeIntervalSince1970.rounded(.down)
        let body = Drain.frame("count#orders=2 source=web.1", at: s + 0.1)
            + Drain.frame("count#orders=3 source=web.1", at: s + 0.2)
            + Drain.frame("sample#queue=9 measure#db=4ms measure#db=8ms", at: s + 0.3)
        XCTAssertEqual(try Drain.post(port: port, body: body, token: otlpToken, query: "resolution=1"), 200)
        XCTAssertEqual(try Drain.post(port: port, body: body, token: libratoToken, query: "resolution=1"), 200)
        XCTAssertEqual(try Drain.post(port: port, body: body, token: unknown, query: "resolution=1"), 401,
                       "a token naming an unknown destination scheme is refused")

        XCTAssertTrue(collector.wait { rs in rs.contains { $0.status == 200 } }, "nothing reached the collector: \(l2met.stdout)")
        XCTAssertTrue(librato.wait { _ in librato.gauges.count >= 6 }, "Librato got \(librato.gauges.count) gauges: \(l2met.stdout)")
        Thread.sleep(forTimeInterval: 1)  // nothing more may come

        // The collector: one request with the API key, JSON, and the three metrics exactly.
        let request = try XCTUnwrap(collector.requests.first)
        XCTAssertEqual(collector.requests.count, 1)
        XCTAssertEqual(request.path, "/v1/metrics")
        XCTAssertEqual(request.header("x-api-key"), apiKey)
        XCTAssertNil(request.header("service.name"), "service.name is a resource attribute, not a header")
        XCTAssertEqual(request.header("content-type"), "application/json")
        let resource = try XCTUnwrap((request.json["resourceMetrics"] as? [[String: Any]])?.first)
        let attributes = (resource["resource"] as? [String: Any])?["attributes"] as? [[String: Any]] ?? []
        XCTAssertEqual((attributes.first { $0["key"] as? String == "service.name" }?["value"] as? [String: Any])?["stringValue"] as? String,
                       "shop")
        let metrics = ((resource["scopeMetrics"] as? [[String: Any]])?.first?["metrics"] as? [[String: Any]]) ?? []
        func metric(_ name: String) -> [String: Any]? { metrics.first { $0["name"] as? String == name } }
        let startNanos = "\(Int64(s))000000000", endNanos = "\(Int64(s) + 1)000000000"

        let orders = try XCTUnwrap((metric("orders")?["sum"] as? [String: Any]))
        XCTAssertEqual(orders["aggregationTemporality"] as? Int, 1)
        XCTAssertEqual(orders["isMonotonic"] as? Bool, true)
        let ordersPoint = try XCTUnwrap((orders["dataPoints"] as? [[String: Any]])?.first)
        XCTAssertEqual((ordersPoint["asDouble"] as? NSNumber)?.doubleValue, 5)
        XCTAssertEqual(ordersPoint["startTimeUnixNano"] as? String, startNanos)
        XCTAssertEqual(ordersPoint["timeUnixNano"] as? String, endNanos)
        let source = (ordersPoint["attributes"] as? [[String: Any]])?.first { $0["key"] as? String == "source" }
        XCTAssertEqual((source?["value"] as? [String: Any])?["stringValue"] as? String, "web.1")

        let queue = try XCTUnwrap(((metric("queue")?["gauge"] as? [String: Any])?["dataPoints"] as? [[String: Any]])?.first)
        XCTAssertEqual((queue["asDouble"] as? NSNumber)?.doubleValue, 9)

        let db = try XCTUnwrap(metric("db"))
        XCTAssertEqual(db["unit"] as? String, "ms")
        let dbPoint = try XCTUnwrap(((db["summary"] as? [String: Any])?["dataPoints"] as? [[String: Any]])?.first)
        XCTAssertEqual(dbPoint["count"] as? String, "2")
        XCTAssertEqual((dbPoint["sum"] as? NSNumber)?.doubleValue, 12)
        // 4, 8: min 4, median x[ceil(1)] = 4, perc95 = perc99 = x2 = 8, max 8.
        let quantiles = (dbPoint["quantileValues"] as? [[String: Any]] ?? []).map {
            "\(($0["quantile"] as? NSNumber)?.doubleValue ?? -1)=\(($0["value"] as? NSNumber)?.doubleValue ?? -1)"
        }
        XCTAssertEqual(quantiles, ["0.0=4.0", "0.5=4.0", "0.95=8.0", "0.99=8.0", "1.0=8.0"])

        // Librato, unchanged: the plain user:token drain's gauges, and only those.
        let names = librato.gauges.map { "\($0["name"] as? String ?? "?")/\($0["source"] as? String ?? "-")" }.sorted()
        XCTAssertEqual(names, ["db.median/-", "db.perc95/-", "db.perc99/-", "db/-", "orders/web.1", "queue/-"])
        XCTAssertEqual(librato.requests.first?.header("authorization"),
                       "Basic " + Data("ops@example.com:librato-secret-9".utf8).base64EncodedString())

        XCTAssertEqual(l2met.stop(), 0)
        let printed = l2met.stdout + l2met.stderr
        XCTAssertFalse(printed.contains(apiKey), "the OTLP API key leaked into the logs")
        XCTAssertFalse(printed.contains("librato-secret-9"), "the Librato token leaked into the logs")
    }

    /// A collector named by its base URL, asking for gzip, that accepts a request but rejects part of
    /// it: l2met posts to /v1/metrics, compressed, and logs and counts the rejected points.
    func testBaseURLGzipAndPartialSuccess() throws {
        let key = freshFernetKey()
        let redis = try RedisServer()
        let collector = try FakeLibrato(respond: { _ in
            HTTPResponse(status: 200, headers: [("Content-Type", "application/json")],
                         body: Array(#"{"partialSuccess":{"rejectedDataPoints":"2","errorMessage":"2 points had an invalid unit"}}"#.utf8))
        })
        defer { collector.stop() }
        let port = freePort()
        let l2met = try ChildProcess(["serve", "--port", "\(port)", "--redis-url", redis.url,
                                      "--flush-interval", "0.25", "--outlet-interval", "0.1"],
                                     environment: ["SECRETS": key])
        defer { _ = l2met.stop() }
        XCTAssertTrue(Drain.waitUntilListening(port: port), "l2met did not start: \(l2met.stdout) \(l2met.stderr)")
        let token = try Keyring(secrets: key).encrypt("otlp+http://127.0.0.1:\(collector.port)#content-encoding=gzip",
                                                      now: Int64(Date().timeIntervalSince1970))
        let s = Date().timeIntervalSince1970.rounded(.down)
        let body = Drain.frame("count#orders=2 source=web.1 measure#db=4ms", at: s + 0.1)
        XCTAssertEqual(try Drain.post(port: port, body: body, token: token, query: "resolution=1"), 200)
        XCTAssertTrue(collector.wait { $0.count >= 1 }, "nothing reached the collector: \(l2met.stdout)")
        XCTAssertTrue(l2met.waitForOutput("rejected part of it", timeout: 10), l2met.stdout)
        let request = try XCTUnwrap(collector.requests.first)
        XCTAssertEqual(request.path, "/v1/metrics", "a base URL posts to /v1/metrics")
        XCTAssertEqual(request.header("content-encoding"), "gzip")
        // The fake's HTTP server decodes gzip bodies as l2met's receiver does: the JSON came through whole.
        let names = ((request.json["resourceMetrics"] as? [[String: Any]])?.first?["scopeMetrics"] as? [[String: Any]])?
            .first?["metrics"] as? [[String: Any]] ?? []
        XCTAssertEqual(Set(names.compactMap { $0["name"] as? String }), ["orders", "db"])
        let line = l2met.stdout.split(separator: "\n").first { $0.contains("rejected part of it") }.map(String.init) ?? ""
        XCTAssertTrue(line.contains("rejected=2") && line.contains("invalid unit"), line)
        let metrics = try Drain.get(port: port, path: "/metrics").1
        XCTAssertTrue(metrics.contains("l2met_outlet_rejected_points_total 2"), metrics)
        XCTAssertEqual(collector.requests.count, 1, "an accepted request is not sent again")
    }
}
