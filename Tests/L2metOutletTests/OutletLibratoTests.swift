import Foundation
import L2metTestSupport
import L2metCore
import L2metHTTP
import L2metObservability
import L2metOutlet
import L2metStore
import XCTest

/// The outlet against a fake Librato on a real socket, with the in-memory store.
final class OutletLibratoTests: XCTestCase {
    let user = "ops@example.com"
    let libratoToken = "librato-token-5b1d7e"
    let bucketToken = "gAAAAAB-drain-token-a"

    /// An outlet whose bucket token resolves to the test's Librato credentials unless told otherwise.
    func outlet(_ store: Store, _ c: OutletConfiguration, _ metrics: MetricsRegistry, _ logs: LogCapture,
                destinations: [String: Destination]? = nil) -> Outlet {
        makeOutlet(store, c, metrics, logs,
                   destinations: destinations ?? [bucketToken: .librato(user: user, token: libratoToken, url: nil)])
    }

    /// A gauge as one comparable line: its fields sorted.
    func canonical(_ g: [String: Any]) -> String {
        g.keys.sorted().map { k -> String in
            if let d = g[k] as? [String: Any] { return "\(k)=\(canonical(d))" }
            return "\(k)=\(g[k]!)"
        }.joined(separator: " ")
    }

    func knownBuckets(token: String) -> [(key: BucketKey, data: BucketData)] {
        [
            (Buckets.key("db.latency", .measurement, token: token, source: "web.1", units: "ms"),
             Buckets.data(.measurement, [8, 42, 15, 23, 16])),
            (Buckets.key("signups", .counter, token: token), Buckets.data(.counter, [1, 1, 2, 1])),
            (Buckets.key("queue", .sample, token: token, source: "worker.2"), Buckets.data(.sample, [12, 9, 7])),
        ]
    }

    func testExactGaugesArePostedAndAcknowledged() throws {
        let librato = try FakeLibrato()
        defer { librato.stop() }
        let store = MemoryStore(partitions: 2)
        let metrics = MetricsRegistry()
        let logs = LogCapture()
        try Buckets.put(store, knownBuckets(token: bucketToken))
        let o = outlet(store, outletConfiguration(libratoURL: librato.url), metrics, logs)
        o.start()
        XCTAssertTrue(librato.wait { _ in librato.gauges.count >= 6 }, "gauges did not arrive: \(logs.text)")
        Thread.sleep(forTimeInterval: 0.2)
        o.stop()

        // Two partitions may mean two claims, so one or two requests; the gauges are these, once each.
        let expected: [[String: Any]] = [
            ["name": "db.latency", "source": "web.1", "measure_time": 1_763_838_000, "count": 5, "sum": 104, "min": 8, "max": 42,
             "sum_squares": 2838, "attributes": ["display_units_long": "ms"]],
            ["name": "db.latency.median", "source": "web.1", "measure_time": 1_763_838_000, "value": 16,
             "attributes": ["display_units_long": "ms"]],
            ["name": "db.latency.perc95", "source": "web.1", "measure_time": 1_763_838_000, "value": 42,
             "attributes": ["display_units_long": "ms"]],
            ["name": "db.latency.perc99", "source": "web.1", "measure_time": 1_763_838_000, "value": 42,
             "attributes": ["display_units_long": "ms"]],
            ["name": "signups", "measure_time": 1_763_838_000, "value": 5],
            ["name": "queue", "source": "worker.2", "measure_time": 1_763_838_000, "value": 7],
        ]
        XCTAssertEqual(librato.gauges.map(canonical).sorted(), expected.map(canonical).sorted())
        for r in librato.requests {
            XCTAssertEqual(r.header("authorization"), "Basic " + Data("\(user):\(libratoToken)".utf8).base64EncodedString())
            XCTAssertEqual(r.header("content-type"), "application/json")
            XCTAssertEqual(r.header("user-agent"), Self.testUserAgent)
        }
        XCTAssertEqual(try Buckets.remaining(store).count, 0)
        XCTAssertEqual(counter(metrics, "l2met_outlet_gauges_posted_total"), 6)
        XCTAssertEqual(counter(metrics, "l2met_outlet_requests_total", [("status", "200")]), Double(librato.requests.count))
        XCTAssertGreaterThan(metrics.gauge("l2met_outlet_delay_seconds", "").value, 0)
        XCTAssertFalse(logs.text.contains(libratoToken))
    }

    func testBodyIsExactlyTheGaugesJSON() throws {
        let librato = try FakeLibrato()
        defer { librato.stop() }
        let store = MemoryStore()
        try Buckets.put(store, [(Buckets.key("signups", .counter, token: bucketToken, units: "req"), Buckets.data(.counter, [1, 1, 2.5]))])
        outlet(store, outletConfiguration(libratoURL: librato.url), MetricsRegistry(), LogCapture()).drain(until: .now + .seconds(20))
        XCTAssertEqual(librato.requests.map { String(decoding: $0.body, as: UTF8.self) }, [
            "{\"gauges\":[{\"name\":\"signups\",\"measure_time\":1763838000,\"value\":4.5,\"attributes\":{\"display_units_long\":\"req\"}}]}",
        ])
    }

    func testMoreThan300GaugesAreSplitIntoSeveralRequests() throws {
        let librato = try FakeLibrato()
        defer { librato.stop() }
        let store = MemoryStore()
        let metrics = MetricsRegistry()
        // 100 measurements: 400 gauges.
        try Buckets.put(store, (0..<100).map {
            (Buckets.key("m\($0)", .measurement, token: bucketToken), Buckets.data(.measurement, [Double($0)]))
        })
        outlet(store, outletConfiguration(libratoURL: librato.url), metrics, LogCapture()).drain(until: .now + .seconds(20))
        let counts = librato.requests.map(\.gauges.count)
        XCTAssertEqual(counts.sorted(), [100, 300])
        XCTAssertTrue(counts.allSatisfy { $0 <= LibratoPayload.maxGaugesPerRequest })
        XCTAssertEqual(Set(librato.gauges.compactMap { $0["name"] as? String }).count, 400)
        XCTAssertEqual(try Buckets.remaining(store).count, 0)
    }

    /// A request waiting for its retry does not hold up the other accounts of its claim: both
    /// accounts' first attempts go out before either is retried (sequential delivery sent one account's
    /// retries, Retry-After waits included, before the other's first attempt).
    func testARetryingAccountDoesNotHoldUpTheOthers() throws {
        let busy = HTTPResponse(status: 503, headers: [("Retry-After", "2")], body: Array("busy".utf8))
        let librato = try FakeLibrato(script: [busy, busy])
        defer { librato.stop() }
        let store = MemoryStore()
        let metrics = MetricsRegistry()
        let a = Destination.librato(user: "alice@example.com", token: "alice-token", url: nil)
        let b = Destination.librato(user: "bob@example.com", token: "bob-token", url: nil)
        try Buckets.put(store, [
            (Buckets.key("x", .counter, token: "tok-a"), Buckets.data(.counter, [1])),
            (Buckets.key("y", .counter, token: "tok-b"), Buckets.data(.counter, [2])),
        ])
        outlet(store, outletConfiguration(libratoURL: librato.url), metrics, LogCapture(),
               destinations: ["tok-a": a, "tok-b": b]).drain(until: .now + .seconds(20))
        let users = librato.requests.map { r -> String in
            let basic = r.header("authorization")?.dropFirst("Basic ".count) ?? ""
            let plain = Data(base64Encoded: String(basic)).map { String(decoding: $0, as: UTF8.self) } ?? "?"
            return "\(plain.prefix { $0 != "@" }) \(r.status)"
        }
        XCTAssertEqual(users.count, 4, "\(users)")
        XCTAssertEqual(Set(users.prefix(2)), ["alice 503", "bob 503"], "\(users)")
        XCTAssertEqual(Set(users.suffix(2)), ["alice 200", "bob 200"], "\(users)")
        XCTAssertEqual(librato.gauges.compactMap { $0["name"] as? String }.sorted(), ["x", "y"])
        XCTAssertEqual(try Buckets.remaining(store).count, 0)
        XCTAssertEqual(counter(metrics, "l2met_outlet_retries_total"), 2)
    }

    func testRequestsAreGroupedByCredentials() throws {
        let librato = try FakeLibrato()
        defer { librato.stop() }
        let store = MemoryStore()
        // Tokens a and a2 decrypt to the same credentials: one request for both; b has its own.
        let a = Destination.librato(user: "alice@example.com", token: "alice-token", url: nil)
        let b = Destination.librato(user: "bob@example.com", token: "bob-token", url: nil)
        try Buckets.put(store, [
            (Buckets.key("x", .counter, token: "tok-a"), Buckets.data(.counter, [1])),
            (Buckets.key("y", .counter, token: "tok-b"), Buckets.data(.counter, [2])),
            (Buckets.key("z", .counter, token: "tok-a2"), Buckets.data(.counter, [3])),
        ])
        outlet(store, outletConfiguration(libratoURL: librato.url), MetricsRegistry(), LogCapture(),
               destinations: ["tok-a": a, "tok-b": b, "tok-a2": a]).drain(until: .now + .seconds(20))
        let byAuth = Dictionary(grouping: librato.requests) { $0.header("authorization") ?? "" }
        let alice = "Basic " + Data("alice@example.com:alice-token".utf8).base64EncodedString()
        let bob = "Basic " + Data("bob@example.com:bob-token".utf8).base64EncodedString()
        XCTAssertEqual(Set(byAuth.keys), [alice, bob])
        XCTAssertEqual(byAuth[alice]?.count, 1)
        XCTAssertEqual(byAuth[bob]?.count, 1)
        XCTAssertEqual(byAuth[alice]?.first?.gauges.compactMap { $0["name"] as? String }.sorted(), ["x", "z"])
        XCTAssertEqual(byAuth[bob]?.first?.gauges.compactMap { $0["name"] as? String }, ["y"])
    }

    /// Two drain tokens for the same credentials (two apps, one Librato account) with the same metric,
    /// source and interval: one gauge set with both buckets' values, not two gauges under one name and
    /// time (Librato would keep only one of them). Both buckets are acknowledged.
    func testBucketsThatDifferOnlyByTokenArePostedAsOneSeries() throws {
        let librato = try FakeLibrato()
        defer { librato.stop() }
        let store = MemoryStore()
        let a = Destination.librato(user: "alice@example.com", token: "alice-token", url: nil)
        try Buckets.put(store, [
            (Buckets.key("x", .counter, token: "tok-a"), Buckets.data(.counter, [1, 2])),
            (Buckets.key("m", .measurement, token: "tok-a", units: "ms"), Buckets.data(.measurement, [5, 1])),
            (Buckets.key("x", .counter, token: "tok-a2"), Buckets.data(.counter, [4])),
            (Buckets.key("m", .measurement, token: "tok-a2", units: "ms"), Buckets.data(.measurement, [3])),
            (Buckets.key("x", .counter, token: "tok-a2", source: "web.1"), Buckets.data(.counter, [10])),
        ])
        outlet(store, outletConfiguration(libratoURL: librato.url), MetricsRegistry(), LogCapture(),
               destinations: ["tok-a": a, "tok-a2": a]).drain(until: .now + .seconds(20))
        XCTAssertEqual(librato.requests.count, 1)
        let gauges = librato.gauges
        let names = gauges.map { "\($0["name"] as? String ?? "?")/\($0["source"] as? String ?? "-")" }.sorted()
        XCTAssertEqual(names, ["m.median/-", "m.perc95/-", "m.perc99/-", "m/-", "x/-", "x/web.1"])
        func gauge(_ name: String, _ source: String? = nil) -> [String: Any]? {
            gauges.first { $0["name"] as? String == name && $0["source"] as? String == source }
        }
        XCTAssertEqual((gauge("x")?["value"] as? NSNumber)?.doubleValue, 7)
        XCTAssertEqual((gauge("x", "web.1")?["value"] as? NSNumber)?.doubleValue, 10)
        XCTAssertEqual((gauge("m")?["count"] as? NSNumber)?.intValue, 3)
        XCTAssertEqual((gauge("m")?["sum"] as? NSNumber)?.doubleValue, 9)
        XCTAssertEqual((gauge("m.median")?["value"] as? NSNumber)?.doubleValue, 3)
        XCTAssertEqual(try Buckets.remaining(store).count, 0)
    }

    func testServerErrorsAreRetriedWithTheSameBodyAndAcknowledgedOnce() throws {
        let librato = try FakeLibrato(script: [.text(500, "oops"), .text(500, "oops again")])
        defer { librato.stop() }
        let store = MemoryStore()
        let metrics = MetricsRegistry()
        let logs = LogCapture()
        try Buckets.put(store, knownBuckets(token: bucketToken))
        let o = outlet(store, outletConfiguration(libratoURL: librato.url), metrics, logs)
        o.start()
        XCTAssertTrue(librato.wait { $0.contains { $0.status == 200 } }, "\(librato.requests.map(\.status)) \(logs.text)")
        Thread.sleep(forTimeInterval: 0.3)  // nothing more may come
        o.stop()
        let r = librato.requests
        XCTAssertEqual(r.map(\.status), [500, 500, 200])
        XCTAssertEqual(r[0].body, r[1].body, "a retry must send the same gauges")
        XCTAssertEqual(r[0].body, r[2].body, "a retry must send the same gauges")
        XCTAssertEqual(librato.gauges.count, 6)
        XCTAssertEqual(try Buckets.remaining(store).count, 0)
        XCTAssertEqual(counter(metrics, "l2met_outlet_retries_total"), 2)
        XCTAssertEqual(counter(metrics, "l2met_outlet_requests_total", [("status", "500")]), 2)
        XCTAssertEqual(counter(metrics, "l2met_outlet_requests_total", [("status", "200")]), 1)
        XCTAssertEqual(counter(metrics, "l2met_outlet_gauges_posted_total"), 6)
    }

    func testTooManyRequestsWaitsForRetryAfter() throws {
        let librato = try FakeLibrato(script: [HTTPResponse(status: 429, headers: [("Retry-After", "1")],
                                                            body: Array("{\"errors\":{\"request\":[\"rate limited\"]}}".utf8))])
        defer { librato.stop() }
        let store = MemoryStore()
        let metrics = MetricsRegistry()
        try Buckets.put(store, knownBuckets(token: bucketToken))
        outlet(store, outletConfiguration(libratoURL: librato.url), metrics, LogCapture()).drain(until: .now + .seconds(20))
        let r = librato.requests
        XCTAssertEqual(r.map(\.status), [429, 200])
        XCTAssertGreaterThanOrEqual(r[1].at.timeIntervalSince(r[0].at), 0.9, "Retry-After: 1 was not honoured")
        XCTAssertEqual(r[0].body, r[1].body)
        XCTAssertEqual(try Buckets.remaining(store).count, 0)
        XCTAssertEqual(counter(metrics, "l2met_outlet_requests_total", [("status", "429")]), 1)
    }

    func testClientErrorDropsTheBucketsAndLogsLibratosErrorWithoutTheToken() throws {
        // A (misbehaving) error body that echoes the token: the log must still not show it.
        let body = "{\"errors\":{\"params\":{\"name\":[\"is invalid\"]},\"request\":[\"bad credentials \(libratoToken)\"]}}"
        let librato = try FakeLibrato(respond: { _ in HTTPResponse(status: 400, body: Array(body.utf8)) })
        defer { librato.stop() }
        let store = MemoryStore()
        let metrics = MetricsRegistry()
        let logs = LogCapture()
        try Buckets.put(store, knownBuckets(token: bucketToken))
        let o = outlet(store, outletConfiguration(libratoURL: librato.url), metrics, logs)
        o.start()
        XCTAssertTrue(Buckets.wait { self.counter(metrics, "l2met_outlet_dropped_buckets_total", [("reason", "refused")]) == 3 },
                      logs.text)
        Thread.sleep(forTimeInterval: 0.3)  // no retry may come
        o.stop()
        // The batch of 3 is split (1 + 2), the 2 again (1 + 1): every bucket was refused on its own.
        XCTAssertEqual(librato.requests.map(\.status), [400, 400, 400, 400, 400])
        XCTAssertEqual(try Buckets.remaining(store).count, 0, "refused buckets are dropped")
        XCTAssertEqual(counter(metrics, "l2met_outlet_requests_total", [("status", "400")]), 5)
        XCTAssertEqual(counter(metrics, "l2met_outlet_retries_total"), 0)
        let text = logs.text
        XCTAssertTrue(text.contains("status=400"), text)
        XCTAssertTrue(text.contains("is invalid"), "Librato's error body is not in the log: \(text)")
        XCTAssertTrue(text.contains(user), "the Librato user may be named: \(text)")
        XCTAssertFalse(text.contains(libratoToken), "the Librato token leaked: \(text)")
        XCTAssertFalse(text.contains(bucketToken), "the drain token leaked: \(text)")
    }

    func testTransientFailuresPutBucketsBackInTheStoreAndNeverDropThem() throws {
        let librato = try FakeLibrato(script: Array(repeating: .text(503, "busy"), count: 4))
        defer { librato.stop() }
        let store = MemoryStore()
        let metrics = MetricsRegistry()
        let logs = LogCapture()
        try Buckets.put(store, knownBuckets(token: bucketToken))
        var c = outletConfiguration(libratoURL: librato.url)
        c.breakerThreshold = 100  // this test is about the back-off of one request
        let o = outlet(store, c, metrics, logs)
        o.start()
        XCTAssertTrue(librato.wait { $0.contains { $0.status == 200 } }, "\(librato.requests.map(\.status)) \(logs.text)")
        Thread.sleep(forTimeInterval: 0.3)
        o.stop()
        XCTAssertEqual(librato.requests.map(\.status), [503, 503, 503, 503, 200])
        XCTAssertEqual(librato.gauges.count, 6)
        XCTAssertEqual(try Buckets.remaining(store).count, 0)
        XCTAssertEqual(counter(metrics, "l2met_outlet_retries_total"), 4)
        XCTAssertEqual(counter(metrics, "l2met_outlet_dropped_buckets_total", [("reason", "refused")]), 0)
        XCTAssertTrue(logs.text.contains("attempt=4"), "the attempt count travels with the buckets: \(logs.text)")
        XCTAssertTrue(logs.text.contains("reason=\"status 503\""), logs.text)
    }

    func testBucketsPastRetentionAreDroppedAndCounted() throws {
        let librato = try FakeLibrato()
        defer { librato.stop() }
        let store = MemoryStore()
        let metrics = MetricsRegistry()
        let logs = LogCapture()
        let old = WallClock.seconds() - 7200
        try Buckets.put(store, [
            (Buckets.key("old", .counter, token: bucketToken, time: old), Buckets.data(.counter, [1])),
            (Buckets.key("new", .counter, token: bucketToken, time: WallClock.seconds() - 300), Buckets.data(.counter, [2])),
        ])
        var c = outletConfiguration(libratoURL: librato.url)
        c.retention = 3600
        let o = outlet(store, c, metrics, logs)
        o.start()
        XCTAssertTrue(librato.wait { _ in librato.gauges.count == 1 }, logs.text)
        XCTAssertTrue(Buckets.wait { store.bucketCount == 0 }, logs.text)
        o.stop()
        XCTAssertEqual(librato.gauges.compactMap { $0["name"] as? String }, ["new"])
        XCTAssertEqual(counter(metrics, "l2met_outlet_dropped_buckets_total", [("reason", "expired")]), 1)
        XCTAssertTrue(logs.text.contains("older than the retention"), logs.text)
    }

    func testARefusedGaugeIsFoundAndTheRestOfItsBatchDelivered() throws {
        // Refuses any request holding the gauge named "bad", as Librato refuses a batch for one bad gauge.
        let librato = try FakeLibrato(respond: { request in
            String(decoding: request.body, as: UTF8.self).contains("\"bad\"")
                ? HTTPResponse(status: 400, body: Array("{\"errors\":{\"params\":{\"name\":[\"is invalid\"]}}}".utf8)) : nil
        })
        defer { librato.stop() }
        let store = MemoryStore()
        let metrics = MetricsRegistry()
        let logs = LogCapture()
        var buckets = (0..<9).map { (Buckets.key("good.\($0)", .counter, token: bucketToken), Buckets.data(.counter, [Double($0)])) }
        buckets.insert((Buckets.key("bad", .counter, token: bucketToken), Buckets.data(.counter, [1])), at: 4)
        try Buckets.put(store, buckets)
        let o = outlet(store, outletConfiguration(libratoURL: librato.url), metrics, logs)
        o.start()
        XCTAssertTrue(librato.wait { _ in librato.gauges.count == 9 }, logs.text)
        XCTAssertTrue(Buckets.wait { store.bucketCount == 0 }, logs.text)
        o.stop()
        XCTAssertEqual(Set(librato.gauges.compactMap { $0["name"] as? String }), Set((0..<9).map { "good.\($0)" }))
        XCTAssertEqual(counter(metrics, "l2met_outlet_dropped_buckets_total", [("reason", "refused")]), 1)
        XCTAssertTrue(logs.text.contains("series=\"bad source="), logs.text)
        // Bisection: at most 2 requests per level of a 10-bucket batch, plus the first.
        XCTAssertLessThanOrEqual(librato.requests.count, 1 + 2 * 4 + 2, "\(librato.requests.map(\.status))")
    }

    func testRefusedCredentialsDropOnlyThatAccount() throws {
        let librato = try FakeLibrato(respond: { request in
            let basic = request.headers.first { $0.name == "authorization" }?.value ?? ""
            let plain = Data(base64Encoded: String(basic.dropFirst("Basic ".count))).map { String(decoding: $0, as: UTF8.self) } ?? ""
            return plain.hasPrefix("mallory") ? HTTPResponse(status: 401, body: Array("{\"errors\":{\"request\":[\"Unauthorized\"]}}".utf8)) : nil
        })
        defer { librato.stop() }
        let store = MemoryStore()
        let metrics = MetricsRegistry()
        let logs = LogCapture()
        let good = Destination.librato(user: "alice@example.com", token: "alice-token", url: nil)
        let bad = Destination.librato(user: "mallory@example.com", token: "wrong-token", url: nil)
        try Buckets.put(store, (0..<4).flatMap { i in [
            (Buckets.key("x.\(i)", .counter, token: "tok-a"), Buckets.data(.counter, [1])),
            (Buckets.key("y.\(i)", .counter, token: "tok-m"), Buckets.data(.counter, [2])),
        ] })
        let o = outlet(store, outletConfiguration(libratoURL: librato.url), metrics, logs, destinations: ["tok-a": good, "tok-m": bad])
        o.start()
        XCTAssertTrue(Buckets.wait { store.bucketCount == 0 }, logs.text)
        o.stop()
        XCTAssertEqual(librato.gauges.count, 4)
        XCTAssertEqual(counter(metrics, "l2met_outlet_dropped_buckets_total", [("reason", "unauthorized")]), 4)
        XCTAssertEqual(librato.requests.filter { $0.status == 401 }.count, 1, "a refused account is not split or retried")
        XCTAssertTrue(logs.text.contains("mallory@example.com"), logs.text)
        XCTAssertFalse(logs.text.contains("wrong-token"), logs.text)
    }

    func testConnectionRefusedIsRetriedUntilLibratoListens() throws {
        let port = try closedPort()
        let store = MemoryStore()
        let metrics = MetricsRegistry()
        let logs = LogCapture()
        try Buckets.put(store, knownBuckets(token: bucketToken))
        var c = OutletConfiguration()
        c.retention = Buckets.testRetention
        c.workers = 1
        c.pollInterval = 0.05
        c.libratoURL = "http://127.0.0.1:\(port)/v1/metrics"
        c.backoffBase = 0.05
        c.backoffCap = 0.1
        c.connectTimeout = 2
        c.requestTimeout = 5
        let o = outlet(store, c, metrics, logs)
        o.start()
        defer { o.stop() }
        XCTAssertTrue(Buckets.wait { self.counter(metrics, "l2met_outlet_requests_total", [("status", "error")]) >= 2 },
                      logs.text)
        let librato = try FakeLibrato(port: port)
        defer { librato.stop() }
        XCTAssertTrue(librato.wait { _ in librato.gauges.count >= 6 }, logs.text)
        XCTAssertTrue(Buckets.wait { self.counter(metrics, "l2met_outlet_gauges_posted_total") >= 6 }, logs.text)
        o.stop()
        XCTAssertEqual(try Buckets.remaining(store).count, 0, "delivered buckets must be acknowledged")
        XCTAssertGreaterThanOrEqual(counter(metrics, "l2met_outlet_retries_total"), 2)
        XCTAssertTrue(logs.text.contains("wait in the store for a later attempt"), logs.text)
        XCTAssertTrue(logs.text.contains("reason=\"connection refused: "), "the reason says the connection was refused: \(logs.text)")
    }

    func testStopLeavesABatchThatIsStillFailingInTheStore() throws {
        let librato = try FakeLibrato(script: Array(repeating: .text(503, "busy"), count: 1000))
        defer { librato.stop() }
        let store = MemoryStore()
        try Buckets.put(store, knownBuckets(token: bucketToken))
        var c = outletConfiguration(libratoURL: librato.url)
        c.backoffBase = 5
        c.backoffCap = 5
        let o = outlet(store, c, MetricsRegistry(), LogCapture())
        o.start()
        XCTAssertTrue(librato.wait { $0.count >= 1 })
        o.stop()
        XCTAssertEqual(try Buckets.remaining(store).count, 3, "a stop must not drop what was not delivered")
    }

    func testStopAbortsARequestThatHangsAndKeepsItsBuckets() throws {
        // A Librato that does not answer until released.
        let release = LogCapture()
        var c = HTTPServerConfiguration()
        c.host = "127.0.0.1"
        c.port = 0
        c.workers = 1
        let hanging = HTTPServer(configuration: c) { _ in
            _ = release.wait(timeout: 30) { $0.contains("release") }
            return HTTPResponse(status: 200)
        }
        try hanging.start()
        defer {
            release.output.write("release\n")
            hanging.stop(gracePeriod: 1)
        }
        let store = MemoryStore()
        let logs = LogCapture()
        let metrics = MetricsRegistry()
        try Buckets.put(store, knownBuckets(token: bucketToken))
        var oc = OutletConfiguration()
        oc.retention = Buckets.testRetention
        oc.workers = 1
        oc.pollInterval = 0.05
        oc.libratoURL = "http://127.0.0.1:\(hanging.boundPort)/v1/metrics"
        oc.requestTimeout = 25
        oc.stopGrace = 0.2
        let o = outlet(store, oc, metrics, logs)
        o.start()
        Thread.sleep(forTimeInterval: 0.3)  // the request is in flight
        o.stop()
        XCTAssertTrue(logs.text.contains("aborting requests still in flight"), logs.text)
        XCTAssertEqual(counter(metrics, "l2met_outlet_requests_total", [("status", "error")]), 1)
        XCTAssertEqual(try Buckets.remaining(store).count, 3, "an aborted request's buckets stay in the store")
    }

    func testNoAttemptOutlivesTheLease() throws {
        let librato = try FakeLibrato()
        defer { librato.stop() }
        let store = MemoryStore()
        let logs = LogCapture()
        let metrics = MetricsRegistry()
        try Buckets.put(store, knownBuckets(token: bucketToken))
        var c = outletConfiguration(libratoURL: librato.url)
        c.workers = 1
        c.lease = 1  // a margin of 0.1 s leaves no room for a request: every claim is given back untried
        let o = outlet(store, c, metrics, logs)
        o.start()
        XCTAssertTrue(Buckets.wait { self.counter(metrics, "l2met_outlet_released_buckets_total") >= 3 }, logs.text)
        o.stop()
        XCTAssertEqual(librato.requests.count, 0, "no request may start that could outlive its claim")
        XCTAssertEqual(try Buckets.remaining(store).count, 3, "buckets whose lease ran short must stay in the store")
    }

    func testDrainDeliversBucketsThatAreNotDueYet() throws {
        let librato = try FakeLibrato()
        defer { librato.stop() }
        let store = MemoryStore(partitions: 4)
        try Buckets.put(store, knownBuckets(token: bucketToken), dueAt: WallClock.seconds() + 3600)
        let o = outlet(store, outletConfiguration(libratoURL: librato.url), MetricsRegistry(), LogCapture())
        o.start()
        Thread.sleep(forTimeInterval: 0.2)
        o.stop()
        XCTAssertEqual(librato.requests.count, 0, "buckets due in an hour were posted early")
        o.drain(until: .now + .seconds(20))
        XCTAssertEqual(librato.gauges.count, 6)
        XCTAssertEqual(try Buckets.remaining(store).count, 0)
    }
}
