import Foundation
import L2metCore
import L2metHTTP
import L2metObservability
import L2metOutlet
import L2metStore
import Logging
import Synchronization

/// Outlet throughput: gauges posted per second to an in-process fake Librato (an `HTTPServer` on
/// loopback answering 200), through the real path (store claim, statistics, JSON, libcurl, acknowledge),
/// and the rate at which gauges and their JSON are built on one core.
///
/// `l2met-bench outlet [--buckets N] [--workers W] [--values V] [--latency MS] [--destinations D]`:
/// N buckets (half measurements of V values, four gauges each; half counters, one gauge each) spread
/// over D drains with an account each; the fake answers each request after MS milliseconds, as a
/// real API does (50–100 ms).
enum OutletBenchmark {
    static func run(_ args: [String]) {
        func option(_ name: String, _ fallback: Int) -> Int {
            guard let i = args.firstIndex(of: name), i + 1 < args.count, let v = Int(args[i + 1]), v > 0 else { return fallback }
            return v
        }
        let bucketCount = option("--buckets", 200_000)
        let workers = option("--workers", OutletConfiguration().workers)
        let valuesPerMeasurement = option("--values", 10)
        let latency = Double(args.firstIndex(of: "--latency").flatMap { i in i + 1 < args.count ? Int(args[i + 1]) : nil } ?? 0) / 1000
        let destinations = option("--destinations", 1)

        // The fake: counts requests and bytes only (parsing JSON here would measure the fake).
        let received = Counters()
        var hc = HTTPServerConfiguration()
        hc.host = "127.0.0.1"
        hc.port = 0
        hc.workers = latency > 0 ? 64 : 2  // a slow answer holds its worker: enough of them to answer in parallel
        let fake = HTTPServer(configuration: hc) { request in
            if latency > 0 { Thread.sleep(forTimeInterval: latency) }
            received.add(bytes: request.body.count)
            return HTTPResponse(status: 200, body: Array("{}".utf8))
        }
        do { try fake.start() } catch {
            print("outlet benchmark: cannot start the fake Librato: \(error)")
            return
        }
        defer { fake.stop(gracePeriod: 1) }

        let buckets = makeBuckets(bucketCount, values: valuesPerMeasurement, destinations: destinations)
        let gaugeTotal = buckets.reduce(0) { $0 + ($1.key.kind == .measurement ? 4 : 1) }
        let store = MemoryStore(partitions: 4)
        do { try store.append(buckets, dueAt: { _ in 0 }) } catch {
            print("outlet benchmark: cannot fill the store: \(error)")
            return
        }
        var c = OutletConfiguration()
        c.workers = workers
        c.pollInterval = 0.01
        c.libratoURL = "http://127.0.0.1:\(fake.boundPort)/v1/metrics"
        c.userAgent = "l2met-bench"
        let metrics = MetricsRegistry()
        let outlet = Outlet(store: store, configuration: c, resolve: { token in
            .librato(user: "\(token)@example.com", token: "bench-token", url: nil)
        }, metrics: metrics,
                            logger: Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() })
        let posted = metrics.counter("l2met_outlet_gauges_posted_total", "")
        let clock = ContinuousClock()
        let began = clock.now
        outlet.start()
        let limit = began + .seconds(300)
        while posted.value < Double(gaugeTotal) && clock.now < limit { Thread.sleep(forTimeInterval: 0.002) }
        let seconds = (clock.now - began) / .seconds(1)
        outlet.stop()
        let done = Int(posted.value)
        print("gauges: \(Int(Double(done) / seconds)) gauges/s posted to a local fake Librato "
            + "(\(done) of \(gaugeTotal) gauges in \(String(format: "%.2f", seconds)) s, \(workers) workers, "
            + "\(destinations) destinations, answers after \(Int(latency * 1000)) ms, "
            + "\(received.requests) requests, \(received.bytes / 1_000_000) MB)")

        // Building: statistics, gauges and JSON for the same buckets, one core.
        let buildBegan = clock.now
        var built = 0
        var bytes = 0
        var batch: [LibratoGauge] = []
        for (key, data) in buckets {
            batch += LibratoPayload.gauges(for: key, data: data)
            if batch.count >= LibratoPayload.maxGaugesPerRequest - 4 {
                bytes += LibratoPayload.json(batch[...]).count
                built += batch.count
                batch.removeAll(keepingCapacity: true)
            }
        }
        bytes += LibratoPayload.json(batch[...]).count
        built += batch.count
        let buildSeconds = (clock.now - buildBegan) / .seconds(1)
        print("payload build: \(Int(Double(built) / buildSeconds)) gauges/s built on one core "
            + "(\(built) gauges, \(bytes / 1_000_000) MB of JSON in \(String(format: "%.3f", buildSeconds)) s)")
    }

    static func makeBuckets(_ n: Int, values: Int, destinations: Int = 1) -> [(key: BucketKey, data: BucketData)] {
        let time = WallClock.seconds() / 60 * 60 - 120
        return (0..<n).map { i in
            let kind: MetricKind = i % 2 == 0 ? .measurement : .counter
            let key = BucketKey(token: "bench\(i % destinations)", name: "bench.metric.\(i / 16)", source: "web.\(i % 16)", kind: kind,
                                units: kind == .measurement ? "ms" : "", resolution: 60, time: time)
            var data = BucketData(kind: kind)
            for v in 0..<(kind == .measurement ? values : 1) { data.add(Double((i &* 31 &+ v &* 7) % 1000) / 4, timestamp: Int64(v)) }
            return (key, data)
        }
    }

    /// What the fake received.
    final class Counters: Sendable {
        private let received = Atomic<Int>(0)
        private let receivedBytes = Atomic<Int>(0)
        func add(bytes: Int) {
            received.wrappingAdd(1, ordering: .relaxed)
            receivedBytes.wrappingAdd(bytes, ordering: .relaxed)
        }
        var requests: Int { received.load(ordering: .relaxed) }
        var bytes: Int { receivedBytes.load(ordering: .relaxed) }
    }
}
