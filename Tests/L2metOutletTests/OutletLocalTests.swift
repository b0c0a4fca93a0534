import Foundation
import L2metCore
import L2metObservability
import L2metOutlet
import L2metStore
import XCTest

/// The outlet with the in-memory store and sinks that need no network: the local sink, resolve
/// failures, destinations not supported yet, and the shutdown drain.
final class OutletLocalTests: XCTestCase {
    struct ResolveError: Error, CustomStringConvertible {
        var token: String
        var description: String { "cannot decrypt \(token)" }  // a careless error that names its token
    }

    func configuration(_ output: LogOutput) -> OutletConfiguration {
        var c = OutletConfiguration()
        c.retention = Buckets.testRetention
        c.workers = 2
        c.pollInterval = 0.05
        c.localOutput = output
        return c
    }

    func value(_ metrics: MetricsRegistry, _ name: String, _ labels: [(String, String)] = []) -> Double {
        metrics.counter(name, "", labels: labels).value
    }

    func testWorkersPrintDueBucketsAndAcknowledgeThem() throws {
        let store = MemoryStore(partitions: 3)
        let out = LogCapture()
        let logs = LogCapture()
        let metrics = MetricsRegistry()
        try Buckets.put(store, [
            (Buckets.key("orders", .counter), Buckets.data(.counter, [3, 4])),
            (Buckets.key("render", .measurement, source: "web.3", units: "ms"), Buckets.data(.measurement, [12.5])),
            (Buckets.key("queue", .sample, source: "worker.2"), Buckets.data(.sample, [9, 7])),
        ])
        let outlet = Outlet(store: store, configuration: configuration(out.output), resolve: { _ in .local },
                            metrics: metrics, logger: logs.logger)
        outlet.start()
        XCTAssertTrue(out.wait { $0.split(separator: "\n").count >= 6 }, "printed: \(out.text)")
        outlet.stop()
        XCTAssertEqual(out.lines.sorted(), [
            "at=metric name=orders time=1763838000 value=7",
            "at=metric name=queue source=worker.2 time=1763838000 value=7",
            "at=metric name=render source=web.3 time=1763838000 count=1 sum=12.5 min=12.5 max=12.5 sum_squares=156.25 units=ms",
            "at=metric name=render.median source=web.3 time=1763838000 value=12.5 units=ms",
            "at=metric name=render.perc95 source=web.3 time=1763838000 value=12.5 units=ms",
            "at=metric name=render.perc99 source=web.3 time=1763838000 value=12.5 units=ms",
        ])
        XCTAssertEqual(try Buckets.remaining(store).count, 0, "printed buckets must be acknowledged")
        XCTAssertEqual(value(metrics, "l2met_outlet_gauges_posted_total"), 6)
        XCTAssertTrue(metrics.render().contains("l2met_outlet_delay_seconds"))
    }

    func testBucketsNotDueAreLeftAloneUntilDrained() throws {
        let store = MemoryStore(partitions: 2)
        let out = LogCapture()
        let metrics = MetricsRegistry()
        let later = WallClock.seconds() + 3600
        try Buckets.put(store, [(Buckets.key("orders", .counter), Buckets.data(.counter, [7]))], dueAt: later)
        try Buckets.put(store, [(Buckets.key("signups", .counter, source: "web.1"), Buckets.data(.counter, [2]))], dueAt: later)
        let outlet = Outlet(store: store, configuration: configuration(out.output), resolve: { _ in .local },
                            metrics: metrics, logger: LogCapture().logger)
        outlet.start()
        Thread.sleep(forTimeInterval: 0.3)
        outlet.stop()
        XCTAssertEqual(out.text, "", "buckets due in an hour were printed")

        outlet.drain(until: .now + .seconds(10))
        XCTAssertEqual(out.lines.sorted(), [
            "at=metric name=orders time=1763838000 value=7",
            "at=metric name=signups source=web.1 time=1763838000 value=2",
        ])
        XCTAssertEqual(try Buckets.remaining(store).count, 0)
    }

    func testUnresolvableTokenIsDroppedAndLoggedWithoutTheToken() throws {
        let store = MemoryStore()
        let out = LogCapture()
        let logs = LogCapture()
        let metrics = MetricsRegistry()
        let bad = "gAAAAABbadtokenbadtokenbadtoken"
        try Buckets.put(store, [
            (Buckets.key("a", .counter, token: bad), Buckets.data(.counter, [1])),
            (Buckets.key("b", .counter, token: bad), Buckets.data(.counter, [1])),
            (Buckets.key("c", .counter, token: "good"), Buckets.data(.counter, [5])),
        ])
        let outlet = Outlet(store: store, configuration: configuration(out.output),
                            resolve: { token in if token == "good" { return .local }; throw ResolveError(token: token) },
                            metrics: metrics, logger: logs.logger)
        outlet.drain(until: .now + .seconds(10))
        XCTAssertEqual(out.lines, ["at=metric name=c time=1763838000 value=5"])
        XCTAssertEqual(try Buckets.remaining(store).count, 0, "unresolvable buckets are dropped, not kept forever")
        XCTAssertEqual(value(metrics, "l2met_outlet_dropped_buckets_total", [("reason", "unresolvable")]), 2)
        XCTAssertTrue(logs.text.contains("do not resolve"), logs.text)
        XCTAssertTrue(logs.text.contains("buckets=2"), logs.text)
        XCTAssertFalse(logs.text.contains(bad), "the token leaked: \(logs.text)")
    }

    func testMetricsSeriesExistFromTheStart() {
        let metrics = MetricsRegistry()
        _ = Outlet(store: MemoryStore(), configuration: OutletConfiguration(), resolve: { _ in .local }, metrics: metrics,
                   logger: LogCapture().logger)
        let text = metrics.render()
        for name in ["l2met_outlet_gauges_posted_total", "l2met_outlet_retries_total", "l2met_outlet_delay_seconds",
                     "l2met_outlet_store_errors_total", "l2met_outlet_dropped_buckets_total{reason=\"expired\"}",
                     "l2met_outlet_dropped_buckets_total{reason=\"unauthorized\"}", "l2met_store_buckets{state=\"retrying\"}",
                     "l2met_store_oldest_undelivered_seconds", "l2met_outlet_deferred_buckets_total",
                     "l2met_outlet_dropped_buckets_total{reason=\"refused\"}"] {
            XCTAssertTrue(text.contains(name), "\(name) missing from:\n\(text)")
        }
    }
}
