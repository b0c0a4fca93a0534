import Foundation
import L2metCore
import L2metStore

/// Store throughput against the Redis at `$REDIS_URL`: buckets flushed per second (batches of
/// `--batch`, default 1000) and buckets claimed and acknowledged per second (claims of `--batch`).
/// `l2met-bench store [--buckets N] [--batch N] [--values N]`. Uses a key prefix of its own and
/// acknowledges every bucket it wrote; only its flush markers remain, and they expire in minutes.
enum StoreBenchmark {
    static func run(_ args: [String]) {
        guard let url = ProcessInfo.processInfo.environment["REDIS_URL"], !url.isEmpty else {
            print("store benchmark: error: REDIS_URL is not set")
            return
        }
        var buckets = 50_000, batchSize = 1000, valuesPerBucket = 4
        var i = 0
        while i < args.count {
            let value = i + 1 < args.count ? Int(args[i + 1]) : nil
            switch args[i] {
            case "--buckets": buckets = max(1, value ?? buckets); i += 1
            case "--batch": batchSize = max(1, value ?? batchSize); i += 1
            case "--values": valuesPerBucket = max(1, value ?? valuesPerBucket); i += 1
            default: break
            }
            i += 1
        }
        let prefix = "l2met-bench-\(UInt32.random(in: 0...UInt32.max))"
        let store: RedisStore
        do {
            store = try RedisStore(url: url, partitions: 1, prefix: prefix)
            try store.ping()
        } catch {
            print("store benchmark: error: \(error)")
            return
        }

        // Buckets like a busy receiver's: a third each counters, measurements, samples.
        let time = WallClock.seconds() / 60 * 60
        let token = String(repeating: "t", count: 120)
        var batches: [[(key: BucketKey, data: BucketData)]] = []
        var start = 0
        while start < buckets {
            let end = min(buckets, start + batchSize)
            batches.append((start..<end).map { n in
                let kind: MetricKind = [.counter, .measurement, .sample][n % 3]
                let key = BucketKey(token: token, name: "bench.metric.\(n)", source: "web.\(n % 10)", kind: kind,
                                    units: kind == .measurement ? "ms" : "", resolution: 60, time: time)
                var data = BucketData(kind: kind)
                for v in 0..<valuesPerBucket { data.add(Double(v * n % 1000), timestamp: time * 1_000_000 + Int64(v)) }
                return (key: key, data: data)
            })
            start = end
        }

        do {
            let t0 = Date()
            for batch in batches {
                try store.append(batch, dueAt: { $0.time + 60 })
            }
            let flushSeconds = Date().timeIntervalSince(t0)

            let t1 = Date()
            var claimed = 0
            while true {
                let got = try store.claim(partition: 0, now: Int64.max / 2, limit: batchSize, lease: 60)
                if got.isEmpty { break }
                try store.acknowledge(got.map(\.key))
                claimed += got.count
            }
            let claimSeconds = Date().timeIntervalSince(t1)
            print("store benchmark: \(buckets) buckets, batches of \(batchSize), \(valuesPerBucket) values each, \(store.url)")
            print("flushed: \(Int(Double(buckets) / flushSeconds)) buckets/s")
            print("claimed: \(Int(Double(claimed) / claimSeconds)) buckets/s (claimed and acknowledged)")
            if claimed != buckets { print("store benchmark: error: claimed \(claimed) of \(buckets) buckets") }
        } catch {
            print("store benchmark: error: \(error)")
        }
    }
}
