import Foundation
import L2metCore
import XCTest

/// Statistics, Librato gauges and the JSON body, against values worked out by hand.
final class StatisticsAndPayloadTests: XCTestCase, BucketFixtures {
    // MARK: helpers

    /// A small deterministic generator, so the shuffle is the same on every run.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    // MARK: ranks

    func testNearestRankIsComputedWithoutFloatingError() {
        // (percent, n, ceil(percent * n / 100) worked out by hand)
        let table: [(Int, Int, Int)] = [
            (50, 1, 1), (95, 1, 1), (99, 1, 1),
            (50, 2, 1), (95, 2, 2), (99, 2, 2),
            (50, 5, 3), (95, 5, 5), (99, 5, 5),
            (50, 10, 5), (95, 10, 10),
            (95, 20, 19),            // 0.95 * 20 = 18.999999999999996 or 19.000000000000004 in floating point; exactly 19
            (95, 100, 95), (99, 100, 99), (50, 100, 50),
            (99, 300, 297), (95, 60, 57), (99, 1000, 990),
            (50, 1_000_001, 500_001), (95, 1_000_001, 950_001), (99, 1_000_001, 990_001),
        ]
        for (p, n, expected) in table {
            XCTAssertEqual(Statistics.rank(p, of: n), expected, "rank(\(p), of: \(n))")
        }
    }

    // MARK: statistics

    func testStatisticsOfOneValue() {
        let s = Statistics(bucket(.measurement, [7]))
        XCTAssertEqual(s.count, 1)
        XCTAssertEqual(s.sum, 7)
        XCTAssertEqual(s.min, 7)
        XCTAssertEqual(s.max, 7)
        XCTAssertEqual(s.sumSquares, 49)
        XCTAssertEqual(s.last, 7)
        XCTAssertEqual(s.median, 7)
        XCTAssertEqual(s.perc95, 7)
        XCTAssertEqual(s.perc99, 7)
    }

    func testStatisticsOfFiveValues() {
        // 8 42 15 23 16 -> sorted 8 15 16 23 42; median x3 = 16, perc95 x[ceil(4.75)] = x5 = 42, perc99 x5 = 42.
        let s = Statistics(bucket(.measurement, [8, 42, 15, 23, 16]))
        XCTAssertEqual(s.count, 5)
        XCTAssertEqual(s.sum, 104)
        XCTAssertEqual(s.min, 8)
        XCTAssertEqual(s.max, 42)
        XCTAssertEqual(s.sumSquares, 2838)   // 64 + 1764 + 225 + 529 + 256
        XCTAssertEqual(s.last, 16)
        XCTAssertEqual(s.median, 16)
        XCTAssertEqual(s.perc95, 42)
        XCTAssertEqual(s.perc99, 42)
    }

    func testStatisticsOfTwentyValuesUseTheExactRank() {
        // 1...20: perc95 = x[ceil(19.0)] = x19 = 19 (a floating-point ceil could say x20);
        // median = x10 = 10, perc99 = x[ceil(19.8)] = x20 = 20.
        let s = Statistics(bucket(.measurement, (1...20).reversed().map(Double.init)))
        XCTAssertEqual(s.median, 10)
        XCTAssertEqual(s.perc95, 19)
        XCTAssertEqual(s.perc99, 20)
        XCTAssertEqual(s.sumSquares, 2870)   // 20 * 21 * 41 / 6
    }

    func testStatisticsOfAMillionAndOneShuffledValues() {
        // 1...1,000,001: median x[ceil(500,000.5)] = x500,001 = 500,001;
        // perc95 x[ceil(950,000.95)] = 950,001; perc99 x[ceil(990,000.99)] = 990,001.
        var values = (1...1_000_001).map(Double.init)
        var rng = SplitMix(state: 42)
        values.shuffle(using: &rng)
        var d = BucketData(kind: .measurement)
        d.values = values
        d.count = values.count
        d.sum = values.reduce(0, +)
        d.lastValue = values[values.count - 1]
        d.lastTimestamp = 1
        let s = Statistics(d)
        XCTAssertEqual(s.count, 1_000_001)
        XCTAssertEqual(s.sum, 500_001_500_001)   // n(n+1)/2, exact in a Double
        XCTAssertEqual(s.min, 1)
        XCTAssertEqual(s.max, 1_000_001)
        XCTAssertEqual(s.median, 500_001)
        XCTAssertEqual(s.perc95, 950_001)
        XCTAssertEqual(s.perc99, 990_001)
        // n(n+1)(2n+1)/6 = 1,000,001 · 1,000,002 · 2,000,003 / 6 = 333,334,833,335,500,001; above 2^53, and a
        // million rounded additions, so compare with a relative bound.
        XCTAssertEqual(s.sumSquares, 333_334_833_335_500_001.0, accuracy: 333_334_833_335_500_001.0 * 1e-9)
    }

    func testStatisticsOfCounterAndSample() {
        let c = Statistics(bucket(.counter, [1, 1, 2, 1]))
        XCTAssertEqual(c.count, 4)
        XCTAssertEqual(c.sum, 5)
        let s = Statistics(bucket(.sample, [12, 7, 9], timestamps: [100, 500, 300]))
        XCTAssertEqual(s.last, 7)
        XCTAssertEqual(s.count, 3)
    }

    // MARK: gauges

    func testMeasurementBecomesSummaryAndThreePercentiles() {
        let gauges = LibratoPayload.gauges(for: key("db.latency", .measurement, source: "web.1", units: "ms"),
                                           data: bucket(.measurement, [8, 42, 15, 23, 16]))
        XCTAssertEqual(gauges, [
            LibratoGauge(name: "db.latency", source: "web.1", measureTime: 1_763_838_000, count: 5, sum: 104, min: 8,
                         max: 42, sumSquares: 2838, units: "ms"),
            LibratoGauge(name: "db.latency.median", source: "web.1", measureTime: 1_763_838_000, value: 16, units: "ms"),
            LibratoGauge(name: "db.latency.perc95", source: "web.1", measureTime: 1_763_838_000, value: 42, units: "ms"),
            LibratoGauge(name: "db.latency.perc99", source: "web.1", measureTime: 1_763_838_000, value: 42, units: "ms"),
        ])
    }

    func testCounterIsItsSumAndSampleItsLastValue() {
        let counter = LibratoPayload.gauges(for: key("signups", .counter), data: bucket(.counter, [1, 1, 2, 1]))
        XCTAssertEqual(counter, [LibratoGauge(name: "signups", source: nil, measureTime: 1_763_838_000, value: 5, units: nil)])

        // 12 @ .10, 7 @ .50, 9 @ .30: the latest timestamp wins.
        let sample = LibratoPayload.gauges(for: key("queue", .sample, source: "worker.2"),
                                           data: bucket(.sample, [12, 7, 9], timestamps: [100_000, 500_000, 300_000]))
        XCTAssertEqual(sample, [LibratoGauge(name: "queue", source: "worker.2", measureTime: 1_763_838_000, value: 7, units: nil)])

        // Equal timestamps: the later in the stream wins.
        let tie = LibratoPayload.gauges(for: key("queue", .sample), data: bucket(.sample, [3, 4], timestamps: [5, 5]))
        XCTAssertEqual(tie.first?.value, 4)
    }

    func testEmptyBucketGivesNoGauges() {
        XCTAssertEqual(LibratoPayload.gauges(for: key("x", .measurement), data: BucketData(kind: .measurement)), [])
        XCTAssertEqual(LibratoPayload.gauges(for: key("x", .counter), data: BucketData(kind: .counter)), [])
    }

    func testGaugeWithNonFiniteNumbersIsLeftOut() {
        // 1e200² overflows: the summary gauge cannot be sent; the percentiles can.
        let gauges = LibratoPayload.gauges(for: key("huge", .measurement), data: bucket(.measurement, [1e200, 1e200]))
        XCTAssertEqual(gauges.map(\.name), ["huge.median", "huge.perc95", "huge.perc99"])
        XCTAssertTrue(gauges.allSatisfy { $0.value == 1e200 })
    }

    // MARK: JSON

    func testJSONIsExact() {
        let gauges = LibratoPayload.gauges(for: key("db.latency", .measurement, source: "web.1", units: "ms"),
                                           data: bucket(.measurement, [8, 42, 15, 23, 16]))
            + LibratoPayload.gauges(for: key("signups", .counter, time: 60), data: bucket(.counter, [2.5, 2]))
        XCTAssertEqual(text(LibratoPayload.json(gauges)), """
            {"gauges":[\
            {"name":"db.latency","source":"web.1","measure_time":1763838000,"count":5,"sum":104,"min":8,"max":42,"sum_squares":2838,"attributes":{"display_units_long":"ms"}},\
            {"name":"db.latency.median","source":"web.1","measure_time":1763838000,"value":16,"attributes":{"display_units_long":"ms"}},\
            {"name":"db.latency.perc95","source":"web.1","measure_time":1763838000,"value":42,"attributes":{"display_units_long":"ms"}},\
            {"name":"db.latency.perc99","source":"web.1","measure_time":1763838000,"value":42,"attributes":{"display_units_long":"ms"}},\
            {"name":"signups","measure_time":60,"value":4.5}\
            ]}
            """)
        XCTAssertEqual(text(LibratoPayload.json([LibratoGauge]())), "{\"gauges\":[]}")
        // A slice writes only its gauges.
        XCTAssertEqual(text(LibratoPayload.json(gauges[4...])), "{\"gauges\":[{\"name\":\"signups\",\"measure_time\":60,\"value\":4.5}]}")
    }

    func testJSONParsesBackWithTheSameFields() throws {
        let gauges = [
            LibratoGauge(name: "a", source: "", measureTime: 0, value: -1.25, units: ""),
            LibratoGauge(name: "b", source: "s", measureTime: -5, count: 3, sum: 0.1, min: -0.5, max: 1e-7, sumSquares: 3e20, units: "B"),
        ]
        let parsed = try JSONSerialization.jsonObject(with: Data(LibratoPayload.json(gauges))) as? [String: Any]
        let list = try XCTUnwrap(parsed?["gauges"] as? [[String: Any]])
        XCTAssertEqual(list.count, 2)
        XCTAssertNil(list[0]["source"], "an empty source is left out")
        XCTAssertNil(list[0]["attributes"], "empty units are left out")
        XCTAssertEqual((list[0]["value"] as? NSNumber)?.doubleValue, -1.25)
        XCTAssertEqual((list[1]["measure_time"] as? NSNumber)?.int64Value, -5)
        XCTAssertEqual((list[1]["sum"] as? NSNumber)?.doubleValue, 0.1)
        XCTAssertEqual((list[1]["max"] as? NSNumber)?.doubleValue, 1e-7)
        XCTAssertEqual((list[1]["sum_squares"] as? NSNumber)?.doubleValue, 3e20)
        XCTAssertEqual((list[1]["attributes"] as? [String: Any])?["display_units_long"] as? String, "B")
    }

    func testJSONStringEscaping() throws {
        let table: [(String, String)] = [
            ("plain.name_1:x-y", "\"plain.name_1:x-y\""),
            ("a\"b", "\"a\\\"b\""),
            ("back\\slash", "\"back\\\\slash\""),
            ("line\nfeed\rret\ttab", "\"line\\nfeed\\rret\\ttab\""),
            ("\u{08}\u{0C}", "\"\\b\\f\""),
            ("\u{01}\u{1F}", "\"\\u0001\\u001f\""),
            ("é/ü€", "\"é/ü€\""),
            ("", "\"\""),
        ]
        for (input, expected) in table {
            var out: [UInt8] = []
            JSONWriter.appendString(input, to: &out)
            XCTAssertEqual(text(out), expected)
            // And a JSON parser reads back the original.
            let parsed = try JSONSerialization.jsonObject(with: Data(out), options: .fragmentsAllowed) as? String
            XCTAssertEqual(parsed, input)
        }
    }

    func testJSONNumberFormatting() throws {
        let table: [(Double, String)] = [
            (0, "0"), (-0.0, "0"), (7, "7"), (-3, "-3"), (1_763_838_000, "1763838000"),
            (0.5, "0.5"), (0.1, "0.1"), (-12.25, "-12.25"), (1e-5, "1e-05"),
            (9_007_199_254_740_991, "9007199254740991"),          // 2^53 - 1: still an exact integer
            (9_007_199_254_740_992, "9007199254740992.0"),        // 2^53: Swift's shortest round-trip form
            (1e16, "1e+16"), (1.2345678901234568e17, "1.2345678901234568e+17"), (0.000123, "0.000123"),
            (1.5e300, "1.5e+300"), (Double.leastNonzeroMagnitude, "5e-324"),
            (.nan, "0"), (.infinity, "1.7976931348623157e+308"), (-.infinity, "-1.7976931348623157e+308"),
        ]
        for (v, expected) in table {
            let s = JSONWriter.number(v)
            XCTAssertEqual(s, expected, "\(v)")
            let back = try JSONSerialization.jsonObject(with: Data(s.utf8), options: .fragmentsAllowed) as? NSNumber
            XCTAssertNotNil(back, "\(s) is not a JSON number")
            if v.isFinite { XCTAssertEqual(back?.doubleValue, v == 0 ? 0 : v, "\(s) does not read back as \(v)") }
        }
        for v in [Int64.min, -1, 0, 9, 10, 1_000_000_007, Int64.max] {
            var out: [UInt8] = []
            JSONWriter.appendInteger(v, to: &out)
            XCTAssertEqual(text(out), String(v))
        }
    }
}
