import Foundation
import L2metCore

/// Parse throughput on one thread: logplex-shaped bodies (the mix of ../shared/tools/gen_body.py,
/// timestamps = now) through `Register.ingest`, flushed (`takeAll`) once a second as the server does.
///
/// `l2met-bench parse [--seconds S] [--lines-per-body N] [--bodies K]`. Prints `lines/s: N`,
/// `MB/s: N` and `measurements/s: N`.
enum ParseBenchmark {
    static func run(_ args: [String]) {
        var seconds = 3.0
        var linesPerBody = 500
        var bodyCount = 64
        var i = 0
        while i < args.count {
            let value = i + 1 < args.count ? args[i + 1] : ""
            switch args[i] {
            case "--seconds": seconds = Double(value) ?? seconds; i += 1
            case "--lines-per-body": linesPerBody = Int(value) ?? linesPerBody; i += 1
            case "--bodies": bodyCount = Int(value) ?? bodyCount; i += 1
            default: break
            }
            i += 1
        }
        let now = Date()
        var rng = BenchRandom(seed: 1)
        let bodies = (0..<bodyCount).map { _ in BodyGenerator.body(lines: linesPerBody, at: now, rng: &rng) }
        let bodyBytes = bodies.map(\.count)
        print("parse: \(bodyCount) bodies of \(linesPerBody) lines, \(bodyBytes.reduce(0, +) / bodyCount) bytes each, \(seconds) s")

        let register = Register(deadline: 2)
        let options = DrainOptions(token: "gAAAAABbenchmarktoken", resolution: 60)
        // Warm up: create the buckets once.
        for body in bodies { _ = register.ingest(body, options: options, nowMicros: WallClock.micros()) }
        _ = register.takeAll()

        var lines = 0
        var bytes = 0
        var measurements = 0
        var dropped = 0
        let start = monotonic()
        var lastFlush = start
        var elapsed = 0.0
        var b = 0
        while elapsed < seconds {
            let body = bodies[b]
            let nowMicros = WallClock.micros()
            let counts = body.withUnsafeBytes { register.ingest($0, options: options, nowMicros: nowMicros) }
            lines += counts.lines
            bytes += body.count
            measurements += counts.measurements
            dropped += DropReason.allCases.reduce(0) { $0 + counts.count(of: $1) }
            b = (b + 1) % bodies.count
            if b % 8 == 0 {
                let t = monotonic()
                elapsed = t - start
                if t - lastFlush >= 1 {
                    _ = register.takeAll()
                    lastFlush = t
                }
            }
        }
        let buckets = register.bucketCount
        _ = register.takeAll()
        func fmt(_ v: Double) -> String { String(format: "%.0f", v) }
        print("lines/s: \(fmt(Double(lines) / elapsed))")
        print("MB/s: \(String(format: "%.1f", Double(bytes) / elapsed / 1_000_000))")
        print("measurements/s: \(fmt(Double(measurements) / elapsed))")
        print("parse: \(lines) lines, \(measurements) measurements, \(dropped) dropped, \(buckets) buckets at the end, \(String(format: "%.2f", elapsed)) s")
    }

    static func monotonic() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// A small deterministic generator (SplitMix64).
struct BenchRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
    mutating func int(_ r: ClosedRange<Int>) -> Int { r.lowerBound + Int(next() % UInt64(r.count)) }
    mutating func uniform(_ a: Double, _ b: Double) -> Double { a + (b - a) * unit() }
    mutating func lognormal(mu: Double, sigma: Double) -> Double {
        let u1 = max(unit(), 1e-12), u2 = unit()
        return exp(mu + sigma * sqrt(-2 * log(u1)) * cos(2 * Double.pi * u2))
    }
}

/// Bodies with gen_body.py's mix: router 45%, runtime memory 10%, runtime load 5%, app metrics 25%,
/// plain app logs 14%, logplex L10 1%.
enum BodyGenerator {
    static func timestamp(_ date: Date) -> String {
        var secs = time_t(date.timeIntervalSince1970)
        var t = tm()
        gmtime_r(&secs, &t)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d+00:00", Int(t.tm_year) + 1900, Int(t.tm_mon) + 1,
                      Int(t.tm_mday), Int(t.tm_hour), Int(t.tm_min), Int(t.tm_sec))
    }

    static func body(lines: Int, at date: Date, rng: inout BenchRandom) -> [UInt8] {
        let ts = timestamp(date)
        var out: [UInt8] = []
        func frame(_ host: String, _ app: String, _ procid: String, _ msg: String) {
            let line = "<158>1 \(ts) \(host) \(app) \(procid) - \(msg)\n"
            out.append(contentsOf: "\(line.utf8.count) \(line)".utf8)
        }
        func f2(_ v: Double) -> String { String(format: "%.2f", v) }
        for _ in 0..<lines {
            let k = rng.unit()
            let dyno = "web.\(rng.int(1...4))"
            if k < 0.45 {
                let status = [200, 200, 200, 201, 304, 404, 500][rng.int(0...6)]
                let msg = "at=info method=GET path=\"/api/items/\(rng.int(1...9999))\" host=shop.example.com "
                    + "request_id=\(String(format: "%016llx", rng.next())) fwd=\"10.1.\(rng.int(0...255)).\(rng.int(0...255))\" dyno=\(dyno) "
                    + "connect=\(rng.int(0...3))ms service=\(Int(rng.lognormal(mu: 3, sigma: 1)))ms status=\(status) bytes=\(rng.int(100...90000)) protocol=https"
                frame("host", "heroku", "router", msg)
            } else if k < 0.55 {
                let msg = "source=\(dyno) dyno=heroku.2808254.d97d0ea7-cf3d-411b-b453-d2943a50b456 "
                    + "sample#memory_total=\(f2(rng.uniform(100, 500)))MB sample#memory_rss=\(f2(rng.uniform(90, 480)))MB "
                    + "sample#memory_cache=\(f2(rng.uniform(0, 20)))MB sample#memory_swap=0.00MB "
                    + "sample#memory_pgpgin=\(rng.int(1000...900000))pages sample#memory_pgpgout=\(rng.int(1000...900000))pages sample#memory_quota=512.00MB"
                frame("host", "heroku", dyno, msg)
            } else if k < 0.60 {
                let msg = "source=\(dyno) dyno=heroku.2808254.d97d0ea7-cf3d-411b-b453-d2943a50b456 "
                    + "sample#load_avg_1m=\(f2(rng.uniform(0, 4))) sample#load_avg_5m=\(f2(rng.uniform(0, 4))) sample#load_avg_15m=\(f2(rng.uniform(0, 4)))"
                frame("host", "heroku", dyno, msg)
            } else if k < 0.85 {
                let msg = "source=\(dyno) measure#db.latency=\(String(format: "%.3f", rng.uniform(0.1, 40)))ms "
                    + "count#orders.created=\(rng.int(1...3)) sample#queue.depth=\(rng.int(0...100))"
                frame("host", "app", dyno, msg)
            } else if k < 0.99 {
                frame("host", "app", dyno, "Completed 200 OK in \(rng.int(1...900))ms (Views: 10.2ms | ActiveRecord: 3.1ms)")
            } else {
                frame("d.1234-drain-identifier-567", "heroku", "logplex",
                      "- Error L10 (output buffer overflow): \(rng.int(1...500)) messages dropped since \(ts).")
            }
        }
        return out
    }
}
