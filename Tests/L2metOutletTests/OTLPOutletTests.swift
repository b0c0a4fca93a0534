import Foundation
import L2metTestSupport
import L2metCore
import L2metHTTP
import L2metObservability
import L2metOutlet
import L2metStore
import XCTest

/// The outlet delivering to an OTLP/HTTP JSON collector: a fake one on a real socket (the recording
/// server of `FakeLibrato`, which records any POST), with the in-memory store.
final class OTLPOutletTests: XCTestCase {
    let apiKey = "k1"
    let otlpToken = "gAAAAAB-drain-token-otlp"
    let libratoDrainToken = "gAAAAAB-drain-token-librato"
    let t0 = "1763838000000000000"
    let t1 = "1763838060000000000"

    func destination(_ collector: FakeLibrato, fragment: String? = nil) throws -> Destination {
        try Destination(plaintext: "otlp+http://127.0.0.1:\(collector.port)/v1/metrics#" + (fragment ?? "x-api-key=\(apiKey)"))
    }

    func knownBuckets(token: String) -> [(key: BucketKey, data: BucketData)] {
        [
            (Buckets.key("db.latency", .measurement, token: token, source: "web.1", units: "ms"),
             Buckets.data(.measurement, [8, 42, 15, 23, 16])),
            (Buckets.key("db.latency", .measurement, token: token, source: "web.2", units: "ms"),
             Buckets.data(.measurement, [0.5, 2.25])),
            (Buckets.key("signups", .counter, token: token), Buckets.data(.counter, [1, 1, 2, 1])),
            (Buckets.key("queue", .sample, token: token, source: "worker.2", units: "req"), Buckets.data(.sample, [12, 9, 7])),
            (Buckets.key("memory_rss", .sample, token: token, source: "web.1", units: "MB"), Buckets.data(.sample, [21.22])),
        ]
    }

    /// The data points of `knownBuckets`, worked out by hand:
    /// web.1 sorted 8 15 16 23 42: count 5, sum 104, min 8, median x[3] 16, perc95 x[5] 42, perc99 42, max 42;
    /// web.2 sorted 0.5 2.25: count 2, sum 2.75, min 0.5, median x[1] 0.5, perc95 x[2] 2.25, perc99 2.25, max 2.25.
    var knownPoints: [String] {
        [
            "db.latency ms summary source=web.1 start=\(t0) time=\(t1) count=5 sum=104 q0=8 q0.5=16 q0.95=42 q0.99=42 q1=42",
            "db.latency ms summary source=web.2 start=\(t0) time=\(t1) count=2 sum=2.75 q0=0.5 q0.5=0.5 q0.95=2.25 q0.99=2.25 q1=2.25",
            "signups - sum temporality=1 monotonic=1 source=- start=\(t0) time=\(t1) value=5",
            "queue {req} gauge source=worker.2 start=\(t0) time=\(t1) value=7",
            "memory_rss MBy gauge source=web.1 start=\(t0) time=\(t1) value=21.22",
        ]
    }

    func points(_ collector: FakeLibrato) -> [String] {
        collector.requests.filter { (200..<300).contains($0.status) }.flatMap { OTLPBody.parse($0.body)?.points ?? ["unreadable"] }
    }

    func testExactDataPointsReachTheCollectorWithTheHeaders() throws {
        let collector = try FakeLibrato()
        defer { collector.stop() }
        let store = MemoryStore(partitions: 2)
        let metrics = MetricsRegistry()
        let logs = LogCapture()
        try Buckets.put(store, knownBuckets(token: otlpToken))
        let o = makeOutlet(store, outletConfiguration(), metrics, logs, destinations: [otlpToken: try destination(collector)])
        o.start()
        XCTAssertTrue(collector.wait { _ in self.points(collector).count >= 5 }, "data points did not arrive: \(logs.text)")
        Thread.sleep(forTimeInterval: 0.2)
        o.stop()

        // Two partitions may mean two claims, so one or two requests; the points are these, once each.
        XCTAssertEqual(points(collector).sorted(), knownPoints.sorted())
        XCTAssertFalse(collector.requests.isEmpty)
        for r in collector.requests {
            XCTAssertEqual(r.header("x-api-key"), apiKey)
            XCTAssertEqual(r.header("content-type"), "application/json")
            XCTAssertEqual(r.header("user-agent"), "l2met/9.8.7")
            XCTAssertNil(r.header("authorization"))
            let parsed = try XCTUnwrap(OTLPBody.parse(r.body))
            XCTAssertEqual(parsed.serviceName, "unknown_service:l2met")
            XCTAssertEqual(parsed.scopeName, "l2met")
            XCTAssertEqual(parsed.scopeVersion, "9.8.7")
        }
        XCTAssertEqual(try Buckets.remaining(store).count, 0)
        XCTAssertEqual(counter(metrics, "l2met_outlet_gauges_posted_total"), 5)
        XCTAssertEqual(counter(metrics, "l2met_outlet_requests_total", [("status", "200")]), Double(collector.requests.count))
        XCTAssertFalse(logs.text.contains("x-api-key=\(apiKey)"), logs.text)
    }

    func testOneRequestGroupsPointsOfAMetricAndNamesTheService() throws {
        let collector = try FakeLibrato()
        defer { collector.stop() }
        let store = MemoryStore()
        try Buckets.put(store, knownBuckets(token: otlpToken))
        let d = try destination(collector, fragment: "x-api-key=\(apiKey)&service.name=shop")
        makeOutlet(store, outletConfiguration(), MetricsRegistry(), LogCapture(), destinations: [otlpToken: d])
            .drain(until: .now + .seconds(20))
        XCTAssertEqual(collector.requests.count, 1)
        let r = try XCTUnwrap(collector.requests.first)
        let parsed = try XCTUnwrap(OTLPBody.parse(r.body))
        XCTAssertEqual(parsed.serviceName, "shop")
        XCTAssertEqual(parsed.points.sorted(), knownPoints.sorted())
        XCTAssertNil(r.header("service.name"), "service.name is a resource attribute, not a header")
        XCTAssertEqual(r.header("x-api-key"), apiKey)
        let body = String(decoding: r.body, as: UTF8.self)
        XCTAssertEqual(body.components(separatedBy: "\"name\":\"db.latency\"").count, 2, "one metric for both db.latency sources: \(body)")
    }

    /// Two drain tokens signed for the same collector with the same metric, source and interval: one
    /// data point with both buckets' values, not two points of one series and time (a summary or gauge
    /// keeps one of them). Every bucket is acknowledged.
    func testBucketsThatDifferOnlyByTokenAreOneDataPoint() throws {
        let collector = try FakeLibrato()
        defer { collector.stop() }
        let store = MemoryStore()
        let otherToken = "gAAAAAB-drain-token-otlp-2"
        try Buckets.put(store, knownBuckets(token: otlpToken) + [
            (Buckets.key("db.latency", .measurement, token: otherToken, source: "web.1", units: "ms"),
             Buckets.data(.measurement, [1, 100])),
            (Buckets.key("signups", .counter, token: otherToken), Buckets.data(.counter, [3])),
        ])
        let d = try destination(collector)
        makeOutlet(store, outletConfiguration(), MetricsRegistry(), LogCapture(), destinations: [otlpToken: d, otherToken: d])
            .drain(until: .now + .seconds(20))
        XCTAssertEqual(collector.requests.count, 1)
        // web.1 with both tokens, sorted 1 8 15 16 23 42 100: count 7, sum 205, min 1, median x[4] 16,
        // perc95 x[ceil(6.65)] = x[7] 100, perc99 100, max 100; signups 5 + 3.
        var expected = knownPoints.filter { !$0.hasPrefix("db.latency ms summary source=web.1 ") && !$0.hasPrefix("signups ") }
        expected.append("db.latency ms summary source=web.1 start=\(t0) time=\(t1) count=7 sum=205 q0=1 q0.5=16 q0.95=100 q0.99=100 q1=100")
        expected.append("signups - sum temporality=1 monotonic=1 source=- start=\(t0) time=\(t1) value=8")
        XCTAssertEqual(points(collector).sorted(), expected.sorted())
        XCTAssertEqual(try Buckets.remaining(store).count, 0)
    }

    func testUnavailableWithRetryAfterIsRetriedWithTheSameBody() throws {
        let collector = try FakeLibrato(script: [HTTPResponse(status: 503, headers: [("Retry-After", "1")], body: Array("busy".utf8))])
        defer { collector.stop() }
        let store = MemoryStore()
        let metrics = MetricsRegistry()
        try Buckets.put(store, knownBuckets(token: otlpToken))
        makeOutlet(store, outletConfiguration(), metrics, LogCapture(), destinations: [otlpToken: try destination(collector)])
            .drain(until: .now + .seconds(20))
        let r = collector.requests
        XCTAssertEqual(r.map(\.status), [503, 200])
        XCTAssertGreaterThanOrEqual(r[1].at.timeIntervalSince(r[0].at), 0.9, "Retry-After: 1 was not honoured")
        XCTAssertEqual(r[0].body, r[1].body, "a retry must send the same data points")
        XCTAssertEqual(points(collector).sorted(), knownPoints.sorted())
        XCTAssertEqual(try Buckets.remaining(store).count, 0)
        XCTAssertEqual(counter(metrics, "l2met_outlet_retries_total"), 1)
        XCTAssertEqual(counter(metrics, "l2met_outlet_requests_total", [("status", "503")]), 1)
        XCTAssertEqual(counter(metrics, "l2met_outlet_requests_total", [("status", "200")]), 1)
    }

    func testBadRequestIsFinalAndLoggedWithoutTheHeaderValue() throws {
        let secret = "otlp-api-key-7f3c9a"
        // A (misbehaving) error body that echoes the key: the log must still not show it.
        let body = "{\"code\":3,\"message\":\"invalid data point; key \(secret)\"}"
        let collector = try FakeLibrato(respond: { _ in HTTPResponse(status: 400, body: Array(body.utf8)) })
        defer { collector.stop() }
        let store = MemoryStore()
        let metrics = MetricsRegistry()
        let logs = LogCapture()
        try Buckets.put(store, knownBuckets(token: otlpToken))
        let d = try destination(collector, fragment: "x-api-key=\(secret)")
        let o = makeOutlet(store, outletConfiguration(), metrics, logs, destinations: [otlpToken: d])
        o.start()
        XCTAssertTrue(Buckets.wait { self.counter(metrics, "l2met_outlet_dropped_buckets_total", [("reason", "refused")]) == 5 },
                      logs.text)
        Thread.sleep(forTimeInterval: 0.3)  // no retry may come
        o.stop()
        // Split until each of the 5 buckets was refused on its own: 1 + 2 + 4 + 2 requests.
        XCTAssertEqual(collector.requests.map(\.status), Array(repeating: 400, count: 9))
        XCTAssertEqual(collector.requests.first?.header("x-api-key"), secret)
        XCTAssertEqual(try Buckets.remaining(store).count, 0, "refused buckets are dropped")
        XCTAssertEqual(counter(metrics, "l2met_outlet_dropped_buckets_total", [("reason", "refused")]), 5)
        XCTAssertEqual(counter(metrics, "l2met_outlet_retries_total"), 0)
        let text = logs.text
        XCTAssertTrue(text.contains("status=400"), text)
        XCTAssertTrue(text.contains("invalid data point"), "the collector's error is not in the log: \(text)")
        XCTAssertTrue(text.contains("http://127.0.0.1:\(collector.port)/v1/metrics"), "the endpoint may be named: \(text)")
        XCTAssertFalse(text.contains(secret), "the header value leaked: \(text)")
        XCTAssertFalse(text.contains(otlpToken), "the drain token leaked: \(text)")
    }

    func testLibratoDrainAlongsideStillReachesLibratoUnchanged() throws {
        let collector = try FakeLibrato()
        defer { collector.stop() }
        let librato = try FakeLibrato()
        defer { librato.stop() }
        let store = MemoryStore()
        let user = "ops@example.com", libratoToken = "librato-token-5b1d7e"
        let librato1 = try Destination(plaintext: "\(user):\(libratoToken)")
        try Buckets.put(store, knownBuckets(token: otlpToken) + [
            (Buckets.key("signups", .counter, token: libratoDrainToken, units: "req"), Buckets.data(.counter, [1, 1, 2.5])),
        ])
        makeOutlet(store, outletConfiguration(libratoURL: librato.url), MetricsRegistry(), LogCapture(),
               destinations: [otlpToken: try destination(collector), libratoDrainToken: librato1])
            .drain(until: .now + .seconds(20))
        XCTAssertEqual(librato.requests.map { String(decoding: $0.body, as: UTF8.self) }, [
            "{\"gauges\":[{\"name\":\"signups\",\"measure_time\":1763838000,\"value\":4.5,\"attributes\":{\"display_units_long\":\"req\"}}]}",
        ])
        XCTAssertEqual(librato.requests.first?.header("authorization"), "Basic " + Data("\(user):\(libratoToken)".utf8).base64EncodedString())
        XCTAssertNil(librato.requests.first?.header("x-api-key"))
        XCTAssertEqual(points(collector).sorted(), knownPoints.sorted())
        XCTAssertNil(collector.requests.first?.header("authorization"))
        XCTAssertEqual(try Buckets.remaining(store).count, 0)
    }

    func testRequestsHoldAtMostAThousandDataPoints() throws {
        let collector = try FakeLibrato()
        defer { collector.stop() }
        let store = MemoryStore()
        let metrics = MetricsRegistry()
        try Buckets.put(store, (0..<2500).map {
            (Buckets.key("c", .counter, token: otlpToken, source: "s\($0)"), Buckets.data(.counter, [Double($0)]))
        })
        var c = outletConfiguration()
        c.claimLimit = 5000
        makeOutlet(store, c, metrics, LogCapture(), destinations: [otlpToken: try destination(collector)])
            .drain(until: .now + .seconds(30))
        XCTAssertEqual(collector.requests.map { OTLPBody.parse($0.body)?.points.count ?? -1 }, [1000, 1000, 500])
        XCTAssertEqual(OTLPPayload.maxDataPointsPerRequest, 1000)
        XCTAssertEqual(Set(points(collector)).count, 2500)
        XCTAssertEqual(counter(metrics, "l2met_outlet_gauges_posted_total"), 2500)
        XCTAssertEqual(try Buckets.remaining(store).count, 0)
    }

    func testBucketsWithNothingToSendAreAcknowledgedWithoutARequest() throws {
        let collector = try FakeLibrato()
        defer { collector.stop() }
        let store = MemoryStore()
        try Buckets.put(store, [(Buckets.key("s", .sample, token: otlpToken), Buckets.data(.sample, [.nan]))])
        makeOutlet(store, outletConfiguration(), MetricsRegistry(), LogCapture(), destinations: [otlpToken: try destination(collector)])
            .drain(until: .now + .seconds(10))
        XCTAssertEqual(collector.requests.count, 0)
        XCTAssertEqual(try Buckets.remaining(store).count, 0)
    }
}
