import L2metCore

/// Buckets for the statistics and payload tests: a test case that adopts this gets the helpers.
protocol BucketFixtures {}

extension BucketFixtures {
    /// A bucket of `kind` holding `values`, the i-th seen at `timestamps[i]` (default: i).
    func bucket(_ kind: MetricKind, _ values: [Double], timestamps: [Int64]? = nil) -> BucketData {
        var d = BucketData(kind: kind)
        for (i, v) in values.enumerated() { d.add(v, timestamp: timestamps?[i] ?? Int64(i)) }
        return d
    }

    /// A key of a 60-second bucket.
    func key(_ name: String, _ kind: MetricKind, source: String = "", units: String = "", time: Int64 = 1_763_838_000) -> BucketKey {
        BucketKey(token: "tok", name: name, source: source, kind: kind, units: units, resolution: 60, time: time)
    }

    func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
}
