/// What one bucket has gathered so far. Merging two `BucketData` of the same key is how flushes from
/// several receivers (or several flushes of one) combine.
///
/// - measurement: every value is kept in `values` (exact percentiles need them all).
/// - counter: `sum` and `count` only.
/// - sample: `lastValue` at `lastTimestamp` (microseconds since the epoch); a later timestamp wins, an
///   equal one from later in the stream wins too.
public struct BucketData: Sendable, Equatable {
    public var kind: MetricKind
    /// Number of values added.
    public var count: Int
    /// Sum of the values added.
    public var sum: Double
    /// Every value (measurements only; empty for the other kinds).
    public var values: [Double]
    /// The value with the latest timestamp (samples; also kept for the others).
    public var lastValue: Double
    /// Timestamp of `lastValue`, microseconds since the epoch.
    public var lastTimestamp: Int64

    public init(kind: MetricKind) {
        self.kind = kind
        self.count = 0
        self.sum = 0
        self.values = []
        self.lastValue = 0
        self.lastTimestamp = Int64.min
    }

    /// Adds one value seen at `timestamp` (microseconds since the epoch).
    @inlinable
    public mutating func add(_ value: Double, timestamp: Int64) {
        count += 1
        sum += value
        if kind == .measurement { values.append(value) }
        if timestamp >= lastTimestamp {
            lastTimestamp = timestamp
            lastValue = value
        }
    }

    /// Merges `other` into this one, `other` taken as later in the stream.
    public mutating func merge(_ other: BucketData) {
        count += other.count
        sum += other.sum
        if kind == .measurement { values.append(contentsOf: other.values) }
        if other.count > 0 && other.lastTimestamp >= lastTimestamp {
            lastTimestamp = other.lastTimestamp
            lastValue = other.lastValue
        }
    }
}
