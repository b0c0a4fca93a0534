import Foundation
import L2metTestSupport
import L2metCore
import L2metObservability
import L2metOutlet
import L2metStore
import XCTest

/// What the OTLP outlet sends, read by the official OpenTelemetry protobuf definitions: the body a fake
/// collector received goes through `scripts/otlp-conformance.py` (`google.protobuf.json_format.Parse`
/// into `ExportMetricsServiceRequest`, then checks). Needs python3 with the PyPI packages
/// `opentelemetry-proto` and `protobuf`; without them the test FAILS, naming what to install.
final class OTLPConformanceTests: XCTestCase {
    static let script = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("scripts/otlp-conformance.py").path

    struct Run {
        var status: Int32
        var output: String
        var errors: String
    }

    /// Runs the conformance script on `body`; nil (after failing the test) when python3 or its
    /// packages are missing.
    func conformance(_ body: [UInt8], file: StaticString = #filePath, line: UInt = #line) throws -> Run? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Self.script]
        // The body from a file and the errors to one, so only stdout is a pipe (read to its end here).
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("l2met-otlp-conformance-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let input = directory.appendingPathComponent("payload.json"), errorsFile = directory.appendingPathComponent("stderr")
        try Data(body).write(to: input)
        _ = FileManager.default.createFile(atPath: errorsFile.path, contents: nil)
        let stdout = Pipe()
        process.standardInput = try FileHandle(forReadingFrom: input)
        process.standardOutput = stdout
        process.standardError = try FileHandle(forWritingTo: errorsFile)
        let install = "install python3 and the PyPI packages opentelemetry-proto and protobuf "
            + "(python3 -m pip install opentelemetry-proto protobuf; scripts/test installs them)"
        do {
            try process.run()
        } catch {
            XCTFail("python3 could not be started (\(error)): \(install)", file: file, line: line)
            return nil
        }
        let out = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let err = (try? Data(contentsOf: errorsFile)) ?? Data()
        let run = Run(status: process.terminationStatus, output: String(decoding: out, as: UTF8.self),
                      errors: String(decoding: err, as: UTF8.self))
        if run.status == 127 || run.status == 3 || run.errors.contains("No module named") {
            XCTFail("the OTLP conformance test needs python3 with opentelemetry-proto and protobuf: \(install). \(run.errors)",
                    file: file, line: line)
            return nil
        }
        return run
    }

    /// Lines of the script's output as JSON objects.
    func objects(_ output: String) throws -> [[String: Any]] {
        try output.split(separator: "\n").map {
            try XCTUnwrap(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any], String($0))
        }
    }

    func testTheOutletsBodyParsesWithTheOfficialProtobufDefinitions() throws {
        let collector = try FakeLibrato()
        defer { collector.stop() }
        let store = MemoryStore()
        let token = "gAAAAAB-drain-token-conformance"
        try Buckets.put(store, [
            (Buckets.key("db.latency", .measurement, token: token, source: "web.1", units: "ms"),
             Buckets.data(.measurement, [8, 42, 15, 23, 16])),
            (Buckets.key("db.latency", .measurement, token: token, source: "web.2", units: "ms"), Buckets.data(.measurement, [0.125])),
            (Buckets.key("signups", .counter, token: token), Buckets.data(.counter, [1, 1, 2.5])),
            (Buckets.key("queue", .sample, token: token, source: "worker \"2\"", units: "req"), Buckets.data(.sample, [12, 9, 7])),
            (Buckets.key("memory_rss", .sample, token: token, source: "web.1", units: "MB"), Buckets.data(.sample, [-21.22e-3])),
        ])
        var c = OutletConfiguration()
        c.retention = Buckets.testRetention
        c.userAgent = "l2met/0.1.0"
        c.connectTimeout = 2
        c.requestTimeout = 5
        let destination = try Destination(
            plaintext: "otlp+http://127.0.0.1:\(collector.port)/v1/metrics#x-api-key=k1&service.name=shop%20%C3%A9")
        Outlet(store: store, configuration: c, resolve: { _ in destination }, metrics: MetricsRegistry(), logger: LogCapture().logger)
            .drain(until: .now + .seconds(20))
        XCTAssertEqual(collector.requests.count, 1)
        let body = try XCTUnwrap(collector.requests.first?.body)

        guard let run = try conformance(body) else { return }
        XCTAssertEqual(run.status, 0, "not conforming: \(run.errors)\n\(String(decoding: body, as: UTF8.self))")
        let lines = try objects(run.output)
        XCTAssertEqual(lines.first?["service.name"] as? String, "shop é")
        XCTAssertEqual(lines.first?["scope.version"] as? String, "0.1.0")
        // What protobuf read, field by field.
        func line(_ o: [String: Any]) -> String {
            o.keys.sorted().map { "\($0)=\(o[$0]!)" }.joined(separator: " ")
        }
        let t0 = "1763838000000000000", t1 = "1763838060000000000"
        let expected: [[String: Any]] = [
            ["metric": "db.latency", "unit": "ms", "type": "summary", "source": "web.1", "start": t0, "time": t1, "count": "5",
             "sum": 104.0, "quantiles": [[0.0, 8.0], [0.5, 16.0], [0.95, 42.0], [0.99, 42.0], [1.0, 42.0]]],
            ["metric": "db.latency", "unit": "ms", "type": "summary", "source": "web.2", "start": t0, "time": t1, "count": "1",
             "sum": 0.125, "quantiles": [[0.0, 0.125], [0.5, 0.125], [0.95, 0.125], [0.99, 0.125], [1.0, 0.125]]],
            ["metric": "signups", "unit": "", "type": "sum", "source": "", "start": t0, "time": t1, "value": 4.5],
            ["metric": "queue", "unit": "{req}", "type": "gauge", "source": "worker \"2\"", "start": t0, "time": t1, "value": 7.0],
            ["metric": "memory_rss", "unit": "MBy", "type": "gauge", "source": "web.1", "start": t0, "time": t1, "value": -0.02122],
        ]
        XCTAssertEqual(lines.dropFirst().map(line).sorted(), expected.map(line).sorted())
    }

    func testTheCheckerRefusesWhatIsNotOTLP() throws {
        let good = OTLPPayload.json([
            OTLPDataPoint(name: "x", kind: .sample, unit: "", source: "", startTimeUnixNano: 1_000, timeUnixNano: 2_000, value: 1),
        ], serviceName: "s", scopeVersion: "")
        guard let ok = try conformance(good) else { return }
        XCTAssertEqual(ok.status, 0, ok.errors)

        let bad: [(String, String)] = [
            ("an unknown field", String(decoding: good, as: UTF8.self).replacingOccurrences(of: "\"asDouble\"", with: "\"value\"")),
            ("a time that is not a number", String(decoding: good, as: UTF8.self).replacingOccurrences(of: "\"1000\"", with: "\"soon\"")),
            ("a summary without quantile 1", String(decoding: OTLPPayload.json([
                OTLPDataPoint(name: "m", kind: .measurement, unit: "", source: "", startTimeUnixNano: 1_000, timeUnixNano: 2_000,
                              count: 1, value: 1, quantiles: [(0, 1), (0.5, 1), (0.95, 1), (0.99, 1)]),
            ], serviceName: "s", scopeVersion: ""), as: UTF8.self)),
        ]
        for (what, text) in bad {
            guard let run = try conformance(Array(text.utf8)) else { return }
            XCTAssertEqual(run.status, 1, "\(what) was accepted: \(text)")
            XCTAssertTrue(run.errors.contains("not conforming"), run.errors)
        }
    }
}
