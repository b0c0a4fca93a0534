import Logging
import XCTest
@testable import L2metObservability

final class ObservabilityTests: XCTestCase {
    func testPrometheusTextRendersFamiliesAndLabels() {
        let m = MetricsRegistry()
        m.counter("l2met_requests_total", "HTTP requests by status.", labels: [("status", "200")]).increment(by: 3)
        m.counter("l2met_requests_total", "HTTP requests by status.", labels: [("status", "401")]).increment()
        m.gauge("l2met_buckets", "Buckets held in memory.").set(7)
        XCTAssertEqual(m.render(), """
            # HELP l2met_buckets Buckets held in memory.
            # TYPE l2met_buckets gauge
            l2met_buckets 7
            # HELP l2met_requests_total HTTP requests by status.
            # TYPE l2met_requests_total counter
            l2met_requests_total{status="200"} 3
            l2met_requests_total{status="401"} 1

            """)
    }

    func testSameSeriesIsShared() {
        let m = MetricsRegistry()
        m.counter("c", "h").increment()
        m.counter("c", "h").increment(by: 2)
        XCTAssertEqual(m.counter("c", "h").value, 3)
    }

    func testLogfmtLinesQuoteAndRedact() {
        var lines: [String] = []
        let handler = LogfmtLogHandler(label: "t", level: .info, output: LogOutput { lines.append($0) })
        var logger = Logger(label: "t", factory: { _ in handler })
        logger[metadataKey: "component"] = "outlet"
        logger.info("posted gauges", metadata: ["count": "3", "user": "a b", "librato_token": "s3cret"])
        logger.debug("hidden")
        XCTAssertEqual(lines, ["at=info msg=\"posted gauges\" component=outlet count=3 librato_token=[redacted] user=\"a b\"\n"])
    }
}
