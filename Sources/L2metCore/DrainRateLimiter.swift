import Synchronization

/// How many values (measurements, counters, samples) each drain may have taken per second, shared
/// by every register of a process: a token bucket per drain that fills at `valuesPerSecond` up to
/// `burst` values.
///
/// Invariants: over any span of `t` seconds a drain is granted at most `burst + t × valuesPerSecond`
/// values (plus what bodies ingested at the same time overdraw: a body may use the whole allowance
/// it was given, and the overdraft is paid back before the next grant); a drain whose bucket is full
/// is forgotten, so memory is bounded by the drains active within the last `burst / valuesPerSecond`
/// seconds. Thread-safe.
public final class DrainRateLimiter: Sendable {
    public let valuesPerSecond: Int
    public let burst: Int

    /// One drain's bucket: values it may still take as of `micros`. Negative: overdrawn.
    private struct Bucket {
        var tokens: Double
        var micros: Int64
    }

    /// The drains' buckets, and when full ones were last forgotten.
    private let state = Mutex<(buckets: [String: Bucket], pruned: Int64)>(([:], 0))

    /// - Parameters:
    ///   - valuesPerSecond: 0 or less: no limit.
    ///   - burstSeconds: the bucket holds this many seconds of the rate (logplex sends what it buffered
    ///     during a network hiccup at once).
    public init(valuesPerSecond: Int, burstSeconds: Int = 60) {
        self.valuesPerSecond = valuesPerSecond
        burst = valuesPerSecond > 0 ? valuesPerSecond.multipliedReportingOverflow(by: max(1, burstSeconds)).partialValue : 0
    }

    public var isUnlimited: Bool { valuesPerSecond <= 0 }

    /// How many values drain `token` may take now (`Int.max` without a limit).
    public func allowance(token: String, nowMicros: Int64) -> Int {
        if isUnlimited { return Int.max }
        return state.withLock { state in
            guard let bucket = state.buckets[token] else { return burst }
            return max(0, Int(refilled(bucket, nowMicros).tokens))
        }
    }

    /// Records that drain `token` took `count` values at `nowMicros`.
    public func spend(token: String, count: Int, nowMicros: Int64) {
        if isUnlimited || count <= 0 { return }
        state.withLock { state in
            var bucket = state.buckets[token].map { refilled($0, nowMicros) } ?? Bucket(tokens: Double(burst), micros: nowMicros)
            bucket.tokens -= Double(count)
            state.buckets[token] = bucket
            if nowMicros - state.pruned >= Self.pruneMicros {
                // Drains whose bucket filled again are as if never seen.
                state.buckets = state.buckets.filter { refilled($0.value, nowMicros).tokens < Double(burst) }
                state.pruned = nowMicros
            }
        }
    }

    private static let pruneMicros: Int64 = 10_000_000

    /// Drains with state (tests).
    public var trackedDrains: Int { state.withLock { $0.buckets.count } }

    private func refilled(_ bucket: Bucket, _ nowMicros: Int64) -> Bucket {
        let elapsed = Double(max(0, nowMicros - bucket.micros)) / 1e6
        return Bucket(tokens: min(Double(burst), bucket.tokens + elapsed * Double(valuesPerSecond)),
                      micros: max(bucket.micros, nowMicros))
    }
}
