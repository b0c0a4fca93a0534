import Foundation
import L2metCore
import L2metHTTP
import L2metOutlet
import L2metStore
import L2metTestSupport
import XCTest

/// The OTLP sink against the OTLP/HTTP specification, through a real collector stand-in on loopback:
/// the endpoint of a base URL, which answers are retried, `partialSuccess`, and gzip request bodies.
final class OTLPSpecificationTests: XCTestCase {
    let client = CurlHTTPClient(userAgent: "l2met/9.8.7", connectTimeout: 2, requestTimeout: 5)

    var buckets: [ClaimedBucket] {
        [
            ClaimedBucket(key: Buckets.key("db.latency", .measurement, source: "web.1", units: "ms"),
                          data: Buckets.data(.measurement, [8, 42, 15])),
            ClaimedBucket(key: Buckets.key("signups", .counter), data: Buckets.data(.counter, [1, 2])),
        ]
    }

    func testABaseEndpointGetsTheMetricsPathAndAPathIsKept() {
        let cases: [(String, String)] = [
            ("https://collector.example", "https://collector.example/v1/metrics"),
            ("https://collector.example/", "https://collector.example/v1/metrics"),
            ("https://collector.example:4318", "https://collector.example:4318/v1/metrics"),
            ("https://collector.example?api-key=k", "https://collector.example/v1/metrics?api-key=k"),
            ("https://collector.example/?api-key=k", "https://collector.example/v1/metrics?api-key=k"),
            ("https://collector.example/v1/metrics", "https://collector.example/v1/metrics"),
            ("https://collector.example/otlp/v1/metrics?x=1", "https://collector.example/otlp/v1/metrics?x=1"),
            ("https://collector.example/custom", "https://collector.example/custom"),
        ]
        for (given, expected) in cases {
            XCTAssertEqual(OTLPDestinationOptions.exportURL(given), expected, given)
        }
    }

    func testABaseEndpointIsPostedAtV1Metrics() throws {
        let collector = try FakeLibrato()
        defer { collector.stop() }
        let sink = OTLPSink(client: client, scopeVersion: "9.8.7")
        for plaintext in ["otlp+http://127.0.0.1:\(collector.port)", "otlp+http://127.0.0.1:\(collector.port)/"] {
            let requests = sink.requests(for: buckets, destination: try Destination(plaintext: plaintext))
            XCTAssertEqual(requests.count, 1)
            XCTAssertEqual(sink.send(requests[0], timeout: 5).status, 200)
        }
        let query = sink.requests(for: buckets, destination: try Destination(plaintext: "otlp+http://127.0.0.1:\(collector.port)?k=v#x=y"))
        XCTAssertEqual(query.first?.url, "http://127.0.0.1:\(collector.port)/v1/metrics?k=v")
        XCTAssertEqual(sink.send(query[0], timeout: 5).status, 200)
        XCTAssertEqual(collector.requests.map(\.path), ["/v1/metrics", "/v1/metrics", "/v1/metrics"])
        XCTAssertEqual(collector.requests.compactMap { OTLPBody.parse($0.body)?.points.count }, [2, 2, 2])
    }

    func testOnly429And502To504AreRetriedAndOtherStatusesAreRefused() throws {
        let statuses = [500, 503, 429, 502, 504, 400, 401, 404, 408, 413, 501, 200]
        let collector = try FakeLibrato(script: statuses.map {
            HTTPResponse(status: $0, headers: $0 == 503 ? [("Retry-After", "7")] : [], body: Array("{}".utf8))
        })
        defer { collector.stop() }
        let sink = OTLPSink(client: client, scopeVersion: "")
        let request = try XCTUnwrap(sink.requests(for: buckets, destination: .otlp(url: collector.url, headers: [])).first)
        var verdicts: [Int: DeliveryVerdict] = [:]
        for status in statuses {
            let result = sink.send(request, timeout: 5)
            XCTAssertEqual(result.status, status)
            if status == 503 { XCTAssertEqual(result.retryAfter, 7) }
            verdicts[status] = sink.verdict(result)
        }
        XCTAssertEqual(verdicts[500], .refused)
        XCTAssertEqual(verdicts[503], .retry)
        XCTAssertEqual(verdicts[429], .retry)
        XCTAssertEqual(verdicts[502], .retry)
        XCTAssertEqual(verdicts[504], .retry)
        for status in [400, 401, 404, 408, 413, 501] { XCTAssertEqual(verdicts[status], .refused, "\(status)") }
        XCTAssertEqual(verdicts[200], .accepted)

        // No answer at all: retried.
        let refused = sink.send(SinkRequest(url: "http://127.0.0.1:\(try closedPort())/v1/metrics", headers: [], body: request.body,
                                            keys: request.keys, itemCount: request.itemCount, oldestEnd: request.oldestEnd),
                                timeout: 5)
        XCTAssertNil(refused.status)
        XCTAssertEqual(sink.verdict(refused), .retry)
    }

    func testPartialSuccessIsReported() throws {
        let long = String(repeating: "é", count: 400)
        let bodies = [
            #"{"partialSuccess":{"rejectedDataPoints":"3","errorMessage":"unit \"x\" unknown"}}"#,
            #"{"partialSuccess":{"rejectedDataPoints":2}}"#,
            #"{"partial_success":{"rejected_data_points":"5","error_message":"too old"}}"#,
            #"{"partialSuccess":{"rejectedDataPoints":"0","errorMessage":"unit renamed"}}"#,
            #"{"partialSuccess":{"rejectedDataPoints":"1","errorMessage":"\#(long)"}}"#,
            #"{}"#,
            "",
            #"{"partialSuccess":{}}"#,
            #"{"partialSuccess":{"rejectedDataPoints":"0"}}"#,
            "not json",
        ]
        let collector = try FakeLibrato(script: bodies.map { HTTPResponse(status: 200, body: Array($0.utf8)) }
            + [HTTPResponse(status: 400, body: Array(bodies[0].utf8))])
        defer { collector.stop() }
        let sink = OTLPSink(client: client, scopeVersion: "")
        let request = try XCTUnwrap(sink.requests(for: buckets, destination: .otlp(url: collector.url, headers: [])).first)
        var found: [PartialRejection?] = []
        for _ in 0...bodies.count { found.append(sink.partialRejection(sink.send(request, timeout: 5))) }

        XCTAssertEqual(found[0], PartialRejection(rejectedItems: 3, message: "unit \"x\" unknown"))
        XCTAssertEqual(found[1], PartialRejection(rejectedItems: 2, message: ""))
        XCTAssertEqual(found[2], PartialRejection(rejectedItems: 5, message: "too old"))
        // A warning: nothing rejected, a message.
        XCTAssertEqual(found[3], PartialRejection(rejectedItems: 0, message: "unit renamed"))
        let bounded = try XCTUnwrap(found[4])
        XCTAssertEqual(bounded.rejectedItems, 1)
        XCTAssertLessThanOrEqual(bounded.message.utf8.count, OTLPSink.maxMessageBytes + "…".utf8.count)
        XCTAssertTrue(bounded.message.hasPrefix("éé"))
        XCTAssertTrue(bounded.message.hasSuffix("…"))
        for i in 5..<bodies.count { XCTAssertNil(found[i], "body \(bodies[i])") }
        // Only an accepted answer has a partial success.
        XCTAssertNil(found[bodies.count])
    }

    func testGzipBodiesWhenTheDestinationAsks() throws {
        let collector = try FakeLibrato()
        defer { collector.stop() }
        let sink = OTLPSink(client: client, scopeVersion: "9.8.7")
        let base = "otlp+http://127.0.0.1:\(collector.port)/v1/metrics#x-api-key=k1"
        let plain = try XCTUnwrap(sink.requests(for: buckets, destination: try Destination(plaintext: base)).first)
        let gzipped = try XCTUnwrap(sink.requests(for: buckets, destination: try Destination(plaintext: base + "&Content-Encoding=GZIP")).first)
        XCTAssertNil(plain.headers.first { $0.0.lowercased() == "content-encoding" })
        XCTAssertEqual(gzipped.headers.filter { $0.0.lowercased() == "content-encoding" }.map(\.1), ["gzip"])
        XCTAssertEqual(Array(gzipped.body.prefix(2)), [0x1f, 0x8b])
        XCTAssertEqual(gzipped.itemCount, plain.itemCount)
        // gzip(1) reads the body back to the very JSON the uncompressed request holds.
        XCTAssertEqual(try gunzip(gzipped.body), plain.body)

        // End to end: the collector (which inflates gzip bodies) gets the header and the same JSON.
        XCTAssertEqual(sink.send(gzipped, timeout: 5).status, 200)
        let received = try XCTUnwrap(collector.requests.last)
        XCTAssertEqual(received.header("content-encoding"), "gzip")
        XCTAssertEqual(received.header("x-api-key"), "k1")
        XCTAssertEqual(received.body, plain.body)
        XCTAssertEqual(OTLPBody.parse(received.body)?.points.count, 2)

        // Any other encoding asked for sends the body as it is, without the header.
        let identity = try XCTUnwrap(sink.requests(for: buckets, destination: try Destination(plaintext: base + "&content-encoding=identity")).first)
        XCTAssertEqual(identity.body, plain.body)
        XCTAssertNil(identity.headers.first { $0.0.lowercased() == "content-encoding" })
    }

    func testTheCompressorRoundTripsManyBodies() throws {
        let compressor = GzipCompressor()
        var sizes = [0, 1, 100, 70_000]
        sizes.append(300_000)
        for n in sizes {
            let input = (0..<n).map { UInt8(truncatingIfNeeded: $0 * 7 + $0 / 13) }
            let output = try XCTUnwrap(compressor.compress(input))
            XCTAssertEqual(try gunzip(output), input, "\(n) bytes")
        }
    }

    /// The bytes gzip(1) decompresses `data` to.
    func gunzip(_ data: [UInt8]) throws -> [UInt8] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("l2met-gunzip-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let input = directory.appendingPathComponent("body.gz")
        try Data(data).write(to: input)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["gzip", "-dc", input.path]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let bytes = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "gzip -dc failed")
        return Array(bytes)
    }
}
