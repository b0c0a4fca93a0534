import Foundation
import L2metCore
import L2metStore

/// Test buckets and store helpers.
enum Buckets {
    /// A fixed minute of November 2025: the outlets of these tests keep buckets that old (see `testRetention`).
    static let time: Int64 = 1_763_838_000
    /// A retention that keeps `time`'s buckets for a century.
    static let testRetention: Int64 = 100 * 365 * 86_400

    static func key(_ name: String, _ kind: MetricKind, token: String = "", source: String = "", units: String = "",
                    time: Int64 = Buckets.time) -> BucketKey {
        BucketKey(token: token, name: name, source: source, kind: kind, units: units, resolution: 60, time: time)
    }

    static func data(_ kind: MetricKind, _ values: [Double]) -> BucketData {
        var d = BucketData(kind: kind)
        for (i, v) in values.enumerated() { d.add(v, timestamp: Int64(i)) }
        return d
    }

    /// Puts buckets in the store, due at once (or at `dueAt`).
    static func put(_ store: Store, _ batch: [(key: BucketKey, data: BucketData)], dueAt: Int64 = 0) throws {
        try store.append(batch, dueAt: { _ in dueAt })
    }

    /// Every bucket still in the store (claims them for an hour, far in the future).
    static func remaining(_ store: Store) throws -> [ClaimedBucket] {
        var all: [ClaimedBucket] = []
        for p in 0..<store.partitions {
            all += try store.claim(partition: p, now: Int64.max / 8, limit: 1_000_000, lease: 3600)
        }
        return all
    }

    /// Waits until `predicate` holds, up to `timeout` seconds.
    @discardableResult
    static func wait(timeout: Double = 20, until predicate: () -> Bool) -> Bool {
        let end = ContinuousClock.now + .seconds(timeout)
        while ContinuousClock.now < end {
            if predicate() { return true }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return predicate()
    }
}
