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

    /// The text format spells non-finite values NaN, +Inf, -Inf, and escapes `\` and newlines in HELP
    /// and `\`, `"` and newlines in label values.
    func testNonFiniteValuesAndEscapingAreValidPrometheusText() {
        let m = MetricsRegistry()
        m.gauge("g_nan", "Not a number.").set(Double.nan)
        m.gauge("g_pos", "Up.").set(Double.infinity)
        m.gauge("g_neg", "Down.").set(-Double.infinity)
        m.gauge("g_frac", "A fraction.").set(0.25)
        m.counter("c_total", "Help with a back\\slash\nand a second line.", labels: [("k", "a\"b\\c\nd")]).increment()
        XCTAssertEqual(m.render(), """
            # HELP c_total Help with a back\\\\slash\\nand a second line.
            # TYPE c_total counter
            c_total{k="a\\"b\\\\c\\nd"} 1
            # HELP g_frac A fraction.
            # TYPE g_frac gauge
            g_frac 0.25
            # HELP g_nan Not a number.
            # TYPE g_nan gauge
            g_nan NaN
            # HELP g_neg Down.
            # TYPE g_neg gauge
            g_neg -Inf
            # HELP g_pos Up.
            # TYPE g_pos gauge
            g_pos +Inf

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
