import Synchronization

/// How many distinct series (name × source × kind × units) each drain may have per interval, shared
/// by every register of a process.
///
/// Invariants: for each drain and bucket time, at most `maxSeriesPerInterval` distinct series hashes
/// are admitted, and a series once admitted for a time is admitted again for that time; state for
/// times older than the oldest a caller still accepts is forgotten, so memory is bounded by drains ×
/// open intervals × `maxSeriesPerInterval` hashes. Thread-safe.
public final class SeriesLimiter: Sendable {
    public let maxSeriesPerInterval: Int

    /// One drain's admitted series, per bucket time.
    private struct Drain {
        var series: [Int64: Set<UInt64>] = [:]
    }

    private let drains = Mutex<[String: Drain]>([:])

    /// - Parameter maxSeriesPerInterval: 0 or less: no limit.
    public init(maxSeriesPerInterval: Int) {
        self.maxSeriesPerInterval = maxSeriesPerInterval
    }

    public var isUnlimited: Bool { maxSeriesPerInterval <= 0 }

    /// Whether series `hash` of drain `token` may have a bucket at `time`; `oldest` is the oldest
    /// bucket time the caller still accepts (older state is forgotten).
    public func admit(token: String, series hash: UInt64, time: Int64, oldest: Int64) -> Bool {
        if isUnlimited { return true }
        return drains.withLock { drains in
            var drain = drains.removeValue(forKey: token) ?? Drain()
            defer { drains[token] = drain }
            if drain.series.count > 1 {
                for t in drain.series.keys where t < oldest { drain.series[t] = nil }
            }
            if drain.series[time]?.contains(hash) ?? false { return true }
            if drain.series[time, default: []].count >= maxSeriesPerInterval { return false }
            drain.series[time, default: []].insert(hash)
            return true
        }
    }

    /// Forgets every drain's intervals older than `oldest` (call now and then: a drain that went
    /// quiet keeps its last intervals otherwise).
    public func forget(before oldest: Int64) {
        drains.withLock { drains in
            for token in Array(drains.keys) {
                drains[token]!.series = drains[token]!.series.filter { $0.key >= oldest }
                if drains[token]!.series.isEmpty { drains[token] = nil }
            }
        }
    }

    /// Drains with state (tests, metrics).
    public var trackedDrains: Int { drains.withLock { $0.count } }
}
