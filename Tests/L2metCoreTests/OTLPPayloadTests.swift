import Foundation
import L2metCore
import XCTest

/// OTLP data points, units, destination options and the JSON body, against values worked out by hand.
final class OTLPPayloadTests: XCTestCase, BucketFixtures {
    let start: Int64 = 1_763_838_000
    let startNanos = "1763838000000000000"
    let endNanos = "1763838060000000000"

    func object(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let value = try JSONSerialization.jsonObject(with: Data(bytes))
        return try XCTUnwrap(value as? [String: Any], "not a JSON object: \(text(bytes))", file: file, line: line)
    }

    /// The metrics of the single resource and scope.
    func metrics(_ body: [UInt8]) throws -> [[String: Any]] {
        let o = try object(body)
        let rm = try XCTUnwrap((o["resourceMetrics"] as? [[String: Any]])?.first)
        let sm = try XCTUnwrap((rm["scopeMetrics"] as? [[String: Any]])?.first)
        return try XCTUnwrap(sm["metrics"] as? [[String: Any]])
    }

    // MARK: data points

    func testMeasurementIsASummaryWithMinAndMaxAsQuantilesZeroAndOne() throws {
        // 1…20 in a scrambled order: sum 210; nearest rank: median x[10] = 10, perc95 x[19] = 19,
        // perc99 x[ceil(19.8)] = x[20] = 20; min 1, max 20.
        let values: [Double] = [7, 20, 3, 14, 1, 18, 9, 12, 5, 16, 2, 11, 19, 4, 13, 8, 17, 6, 15, 10]
        let p = try XCTUnwrap(OTLPPayload.dataPoint(for: key("db.latency", .measurement, source: "web.1", units: "ms"),
                                                    data: bucket(.measurement, values)))
        XCTAssertEqual(p, OTLPDataPoint(name: "db.latency", kind: .measurement, unit: "ms", source: "web.1",
                                        startTimeUnixNano: 1_763_838_000_000_000_000, timeUnixNano: 1_763_838_060_000_000_000,
                                        count: 20, value: 210,
                                        quantiles: [(0, 1), (0.5, 10), (0.95, 19), (0.99, 20), (1, 20)]))
        let body = OTLPPayload.json([p], serviceName: "svc", scopeVersion: "1.2.3")
        XCTAssertEqual(try metrics(body).count, 1)
        let json = text(body)
        XCTAssertTrue(json.contains("""
            {"name":"db.latency","unit":"ms","summary":{"dataPoints":[{"attributes":[{"key":"source","value":{"stringValue":"web.1"}}],\
            "startTimeUnixNano":"\(startNanos)","timeUnixNano":"\(endNanos)","count":"20","sum":210,"quantileValues":[\
            {"quantile":0,"value":1},{"quantile":0.5,"value":10},{"quantile":0.95,"value":19},{"quantile":0.99,"value":20},\
            {"quantile":1,"value":20}]}]}}
            """), json)
    }

    func testSmallMeasurement() throws {
        // 8, 42, 15, 23, 16 sorted: 8 15 16 23 42. median x[3] = 16, perc95 x[5] = 42, perc99 x[5] = 42.
        let p = try XCTUnwrap(OTLPPayload.dataPoint(for: key("m", .measurement), data: bucket(.measurement, [8, 42, 15, 23, 16])))
        XCTAssertEqual(p.count, 5)
        XCTAssertEqual(p.value, 104)
        XCTAssertEqual(p.quantiles.map(\.quantile), [0, 0.5, 0.95, 0.99, 1])
        XCTAssertEqual(p.quantiles.map(\.value), [8, 16, 42, 42, 42])
    }

    func testCounterIsADeltaMonotonicSumOfTheInterval() throws {
        let p = try XCTUnwrap(OTLPPayload.dataPoint(for: key("signups", .counter), data: bucket(.counter, [1, 1, 2.5, 1])))
        XCTAssertEqual(p.value, 5.5)
        XCTAssertEqual(text(OTLPPayload.json([p], serviceName: "shop", scopeVersion: "0.1.0")), """
            {"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"shop"}}]},\
            "scopeMetrics":[{"scope":{"name":"l2met","version":"0.1.0"},"metrics":[{"name":"signups","sum":{\
            "aggregationTemporality":1,"isMonotonic":true,"dataPoints":[{"startTimeUnixNano":"\(startNanos)",\
            "timeUnixNano":"\(endNanos)","asDouble":5.5}]}}]}]}]}
            """)
    }

    func testSampleIsAGaugeOfTheLastValue() throws {
        // Timestamps 30, 10, 30: the later of the two at 30 wins.
        let p = try XCTUnwrap(OTLPPayload.dataPoint(for: key("queue", .sample, source: "worker.2", units: "req"),
                                                    data: bucket(.sample, [12, 9, 7], timestamps: [30, 10, 30])))
        XCTAssertEqual(p.value, 7)
        let m = try XCTUnwrap(try metrics(OTLPPayload.json([p], serviceName: "s", scopeVersion: "")).first)
        XCTAssertEqual(m["name"] as? String, "queue")
        XCTAssertEqual(m["unit"] as? String, "{req}")
        let points = try XCTUnwrap((m["gauge"] as? [String: Any])?["dataPoints"] as? [[String: Any]])
        XCTAssertEqual(points.count, 1)
        XCTAssertEqual(points[0]["asDouble"] as? Double, 7)
        XCTAssertEqual(points[0]["startTimeUnixNano"] as? String, startNanos)
        XCTAssertEqual(points[0]["timeUnixNano"] as? String, endNanos)
        let attributes = try XCTUnwrap(points[0]["attributes"] as? [[String: Any]])
        XCTAssertEqual(attributes.count, 1)
        XCTAssertEqual(attributes[0]["key"] as? String, "source")
        XCTAssertEqual((attributes[0]["value"] as? [String: Any])?["stringValue"] as? String, "worker.2")
    }

    func testEmptySourceAndUnitsAreLeftOutAndAnEmptyVersionToo() throws {
        let p = try XCTUnwrap(OTLPPayload.dataPoint(for: key("x", .sample), data: bucket(.sample, [1])))
        let json = text(OTLPPayload.json([p], serviceName: "s", scopeVersion: ""))
        XCTAssertFalse(json.contains("\"attributes\":[{\"key\":\"source\""), json)
        XCTAssertFalse(json.contains("\"unit\""), json)
        XCTAssertTrue(json.contains("\"scope\":{\"name\":\"l2met\"}"), json)
    }

    func testTimesAreTheBucketBoundsInNanosecondsForEveryResolution() throws {
        for (resolution, time) in [(Int32(1), Int64(1_700_000_001)), (10, 1_700_000_010), (3600, 1_699_999_200)] {
            let k = BucketKey(token: "", name: "n", source: "", kind: .counter, units: "", resolution: resolution, time: time)
            let p = try XCTUnwrap(OTLPPayload.dataPoint(for: k, data: bucket(.counter, [1])))
            XCTAssertEqual(p.startTimeUnixNano, time * 1_000_000_000)
            XCTAssertEqual(p.timeUnixNano, (time + Int64(resolution)) * 1_000_000_000)
        }
    }

    func testBucketsWithNothingToSayHaveNoDataPoint() {
        XCTAssertNil(OTLPPayload.dataPoint(for: key("m", .measurement), data: BucketData(kind: .measurement)))
        XCTAssertNil(OTLPPayload.dataPoint(for: key("c", .counter), data: BucketData(kind: .counter)))
        XCTAssertNil(OTLPPayload.dataPoint(for: key("s", .sample), data: BucketData(kind: .sample)))
        // Not finite: JSON cannot say it.
        XCTAssertNil(OTLPPayload.dataPoint(for: key("c", .counter), data: bucket(.counter, [.greatestFiniteMagnitude, .greatestFiniteMagnitude])))
        XCTAssertNil(OTLPPayload.dataPoint(for: key("s", .sample), data: bucket(.sample, [.nan])))
        // Times unix nanoseconds cannot hold: no crash, no point.
        XCTAssertNil(OTLPPayload.dataPoint(for: key("c", .counter, time: -60), data: bucket(.counter, [1])))
        XCTAssertNil(OTLPPayload.dataPoint(for: key("c", .counter, time: Int64.max / 1000), data: bucket(.counter, [1])))
    }

    // MARK: grouping

    func testPointsOfOneNameKindAndUnitShareAMetric() throws {
        let points = [
            OTLPPayload.dataPoint(for: key("lat", .measurement, source: "web.1", units: "ms"), data: bucket(.measurement, [1])),
            OTLPPayload.dataPoint(for: key("hits", .counter, source: "web.1"), data: bucket(.counter, [3])),
            OTLPPayload.dataPoint(for: key("lat", .measurement, source: "web.2", units: "ms"), data: bucket(.measurement, [2])),
            OTLPPayload.dataPoint(for: key("lat", .measurement, source: "web.3", units: "s"), data: bucket(.measurement, [3])),
            OTLPPayload.dataPoint(for: key("lat", .sample, source: "web.1", units: "ms"), data: bucket(.sample, [4])),
            OTLPPayload.dataPoint(for: key("hits", .counter, source: "web.2", time: start + 60), data: bucket(.counter, [5])),
        ].compactMap { $0 }
        XCTAssertEqual(points.count, 6)
        let ms = try metrics(OTLPPayload.json(points, serviceName: "s", scopeVersion: ""))
        func summary(_ m: [String: Any]) -> String {
            let type = ["summary", "sum", "gauge"].first { m[$0] != nil } ?? "?"
            let dps = (m[type] as? [String: Any])?["dataPoints"] as? [[String: Any]] ?? []
            let sources = dps.map { (($0["attributes"] as? [[String: Any]])?.first?["value"] as? [String: Any])?["stringValue"] as? String ?? "" }
            return "\(m["name"] ?? "") \(type) \(m["unit"] ?? "-") \(sources.joined(separator: ","))"
        }
        XCTAssertEqual(ms.map(summary), [
            "lat summary ms web.1,web.2",
            "hits sum - web.1,web.2",
            "lat summary s web.3",
            "lat gauge ms web.1",
        ])
    }

    func testTextIsEscaped() throws {
        let p = OTLPDataPoint(name: "a\"b", kind: .sample, unit: "", source: "x\\y\n", startTimeUnixNano: 1, timeUnixNano: 2, value: 0.25)
        let body = OTLPPayload.json([p], serviceName: "say \"hi\"", scopeVersion: "")
        let o = try object(body)
        XCTAssertNotNil(o["resourceMetrics"])
        XCTAssertTrue(text(body).contains("\"name\":\"a\\\"b\""))
        XCTAssertTrue(text(body).contains("\"stringValue\":\"x\\\\y\\n\""))
        XCTAssertTrue(text(body).contains("\"asDouble\":0.25"))
    }

    // MARK: units

    func testUnitsBecomeUCUM() {
        let table: [(String, String)] = [
            ("", ""), ("ms", "ms"), ("s", "s"), ("us", "us"), ("ns", "ns"), ("min", "min"), ("h", "h"),
            ("B", "By"), ("bytes", "By"), ("byte", "By"), ("KB", "kBy"), ("kB", "kBy"), ("MB", "MBy"), ("GB", "GBy"),
            ("TB", "TBy"), ("%", "%"), ("req", "{req}"), ("Mb", "{Mb}"), ("a{b}", "{a_b_}"),
        ]
        for (units, expected) in table {
            XCTAssertEqual(OTLPUnit.ucum(units), expected, "units \(units)")
        }
        let p = OTLPPayload.dataPoint(for: key("mem", .sample, units: "MB"), data: bucket(.sample, [21.22]))
        XCTAssertEqual(p?.unit, "MBy")
    }

    // MARK: destination options

    func testServiceNameIsTakenOutOfTheHeaders() throws {
        let d = try Destination(plaintext: "otlp+https://otlp.example:4318/v1/metrics#x-api-key=k1&service.name=shop%20api&dd-api-key=k2")
        guard case let .otlp(url, fragment) = d else { return XCTFail("\(d)") }
        XCTAssertEqual(url, "https://otlp.example:4318/v1/metrics")
        let o = OTLPDestinationOptions(fragment: fragment)
        XCTAssertEqual(o.serviceName, "shop api")
        XCTAssertEqual(o.headers.map(\.0), ["x-api-key", "dd-api-key"])
        XCTAssertEqual(o.headers.map(\.1), ["k1", "k2"])

        XCTAssertEqual(OTLPDestinationOptions(fragment: [("Service.Name", "a")]).serviceName, "a")
        XCTAssertEqual(OTLPDestinationOptions(fragment: [("Service.Name", "a")]).headers.count, 0)
        XCTAssertEqual(OTLPDestinationOptions(fragment: [("x-api-key", "k")]).serviceName, "unknown_service:l2met")
        XCTAssertEqual(OTLPDestinationOptions(fragment: [("service.name", "")]).serviceName, "unknown_service:l2met")
        XCTAssertEqual(OTLPDestinationOptions(fragment: []).serviceName, OTLPDestinationOptions.defaultServiceName)
    }
}
