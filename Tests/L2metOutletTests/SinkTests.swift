import Foundation
import L2metCore
import L2metObservability
import L2metOutlet
import L2metStore
import XCTest

/// How sinks turn one destination's buckets into requests and lines.
final class SinkTests: XCTestCase {
    let client = CurlHTTPClient(userAgent: "l2met-test", connectTimeout: 1, requestTimeout: 2)

    func gauges(_ body: [UInt8]) -> [[String: Any]] {
        ((try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any])?["gauges"] as? [[String: Any]] ?? []
    }

    func testLibratoRequestsHoldAtMost300GaugesAndNeverSplitABucket() {
        let sink = LibratoSink(client: client, defaultURL: "http://default.example/v1/metrics")
        // 299 counters (one gauge each), then one measurement (four gauges): 299 + 4 > 300.
        var buckets = (0..<299).map { ClaimedBucket(key: Buckets.key("c\($0)", .counter), data: Buckets.data(.counter, [1])) }
        buckets.append(ClaimedBucket(key: Buckets.key("m", .measurement), data: Buckets.data(.measurement, [1, 2])))
        let requests = sink.requests(for: buckets, destination: .librato(user: "u@example.com", token: "t0k", url: nil))
        XCTAssertEqual(requests.map(\.itemCount), [299, 4])
        XCTAssertEqual(requests.map { gauges($0.body).count }, [299, 4])
        XCTAssertEqual(requests.map(\.keys.count), [299, 1])
        XCTAssertEqual(Set(requests.flatMap(\.keys)), Set(buckets.map(\.key)))
        XCTAssertEqual(requests[1].keys, [buckets[299].key])
        XCTAssertEqual(requests[0].url, "http://default.example/v1/metrics")
        XCTAssertEqual(requests[0].oldestEnd, Buckets.time + 60)

        // 100 measurements = 400 gauges: 75 buckets (300 gauges), then 25 (100 gauges).
        let measurements = (0..<100).map {
            ClaimedBucket(key: Buckets.key("m\($0)", .measurement), data: Buckets.data(.measurement, [Double($0)]))
        }
        let split = sink.requests(for: measurements, destination: .librato(user: "u", token: "t", url: "https://other.example/x"))
        XCTAssertEqual(split.map(\.itemCount), [300, 100])
        XCTAssertEqual(split.map(\.keys.count), [75, 25])
        XCTAssertEqual(split[0].url, "https://other.example/x")
    }

    func testLibratoHeaders() {
        let sink = LibratoSink(client: client, defaultURL: "http://x/")
        let r = sink.requests(for: [ClaimedBucket(key: Buckets.key("a", .counter), data: Buckets.data(.counter, [1]))],
                              destination: .librato(user: "ops@example.com", token: "s3cret", url: nil))
        let headers = Dictionary(uniqueKeysWithValues: r[0].headers.map { ($0.0.lowercased(), $0.1) })
        XCTAssertEqual(headers["content-type"], "application/json")
        // base64("ops@example.com:s3cret")
        XCTAssertEqual(headers["authorization"], "Basic b3BzQGV4YW1wbGUuY29tOnMzY3JldA==")
    }

    func testEmptyBucketsAreInARequestWithNothingToSend() {
        let sink = LibratoSink(client: client, defaultURL: "http://x/")
        let r = sink.requests(for: [ClaimedBucket(key: Buckets.key("a", .counter), data: BucketData(kind: .counter))],
                              destination: .librato(user: "u", token: "t", url: nil))
        XCTAssertEqual(r.count, 1)
        XCTAssertEqual(r[0].itemCount, 0)
        XCTAssertEqual(r[0].keys.count, 1)
    }

    func testLocalSinkLines() {
        let capture = LogCapture()
        let sink = LocalSink(output: capture.output)
        let buckets = [
            ClaimedBucket(key: Buckets.key("orders", .counter), data: Buckets.data(.counter, [3, 4])),
            ClaimedBucket(key: Buckets.key("render", .measurement, source: "web.3", units: "ms"),
                          data: Buckets.data(.measurement, [12.5, 2])),
            ClaimedBucket(key: Buckets.key("queue", .sample, source: "worker.2"), data: Buckets.data(.sample, [12, 7])),
        ]
        let requests = sink.requests(for: buckets, destination: .local)
        XCTAssertEqual(requests.count, 1)
        XCTAssertEqual(requests[0].itemCount, 6)
        XCTAssertEqual(sink.send(requests[0], timeout: 1).status, 200)
        XCTAssertEqual(capture.lines, [
            "at=metric name=orders time=1763838000 value=7",
            "at=metric name=render source=web.3 time=1763838000 count=2 sum=14.5 min=2 max=12.5 sum_squares=160.25 units=ms",
            "at=metric name=render.median source=web.3 time=1763838000 value=2 units=ms",
            "at=metric name=render.perc95 source=web.3 time=1763838000 value=12.5 units=ms",
            "at=metric name=render.perc99 source=web.3 time=1763838000 value=12.5 units=ms",
            "at=metric name=queue source=worker.2 time=1763838000 value=7",
        ])
    }

    func testConnectionRefusedIsAFailureWithoutStatus() throws {
        let port = try closedPort()
        let started = ContinuousClock.now
        let r = client.post(url: "http://127.0.0.1:\(port)/v1/metrics", headers: [], body: Array("{}".utf8))
        XCTAssertNil(r.status)
        XCTAssertNotNil(r.failure)
        XCTAssertFalse(r.timedOut)
        XCTAssertEqual(RetryPolicy.verdict(r), .retry)
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(30))
    }
}

/// A loopback port nothing listens on (bound, read, closed).
func closedPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw POSIXError(.EBADF) }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = 0
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
    }
    guard bound else { throw POSIXError(.EADDRINUSE) }
    return Int(UInt16(bigEndian: addr.sin_port))
}
