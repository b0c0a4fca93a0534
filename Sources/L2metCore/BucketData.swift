/// What one bucket has gathered so far. Merging two `BucketData` of the same key is how flushes from
/// several receivers (or several flushes of one) combine.
///
/// - measurement: exact while small, bounded when large. Up to `exactLimit` values, every value is
///   kept in `values` (exact nearest-rank percentiles); past it the bucket holds a `QuantileSketch`
///   (`sketch`, with `values` empty): count, sum, min, max and sum of squares stay exact, percentiles
///   are within 1 % (`QuantileSketch.relativeAccuracy`) of the exact ones, and memory stays below
///   about 32 KiB however many values come.
/// - counter: `sum` and `count` only.
/// - sample: `lastValue` at `lastTimestamp` (microseconds since the epoch); a later timestamp wins, an
///   equal one from later in the stream wins too.
public struct BucketData: Sendable, Equatable {
    /// The most values a measurement bucket keeps exactly. 4,096 values of 8 bytes are 32 KiB, the
    /// same as the sketch's worst case (2 × 2,048 bins of 8 bytes), so switching to the sketch never
    /// raises the bound on a bucket's memory; it keeps exact percentiles for up to 68 values a
    /// second at the default resolution of 60 s.
    public static let exactLimit = 4096

    public var kind: MetricKind
    /// Number of values added.
    public var count: Int
    /// Sum of the values added.
    public var sum: Double
    /// Every value while the measurement is exact (at most `exactLimit` of them); empty for the other
    /// kinds and once `sketch` is set.
    public var values: [Double]
    /// The summary of a measurement's values once it has more than `exactLimit` (nil while exact).
    public var sketch: QuantileSketch? {
        get { sketched ? summary : nil }
        set {
            sketched = newValue != nil
            summary = newValue ?? QuantileSketch()
        }
    }
    /// The sketch, stored inline (empty while exact) so that adding to it mutates it in place.
    @usableFromInline var summary: QuantileSketch
    @usableFromInline var sketched: Bool
    /// The value with the latest timestamp (samples; also kept for the others).
    public var lastValue: Double
    /// Timestamp of `lastValue`, microseconds since the epoch.
    public var lastTimestamp: Int64

    public init(kind: MetricKind) {
        self.kind = kind
        self.count = 0
        self.sum = 0
        self.values = []
        self.summary = QuantileSketch()
        self.sketched = false
        self.lastValue = 0
        self.lastTimestamp = Int64.min
    }

    /// Adds one value seen at `timestamp` (microseconds since the epoch). Returns true when the value
    /// was kept as such (an exact measurement's memory grew by 8 bytes).
    @inlinable
    @discardableResult
    public mutating func add(_ value: Double, timestamp: Int64) -> Bool {
        count += 1
        sum += value
        var kept = false
        if kind == .measurement {
            if !sketched {
                values.append(value)
                kept = true
                if values.count > Self.exactLimit { becomeSketch() }
            } else {
                summary.add(value)
            }
        }
        if timestamp >= lastTimestamp {
            lastTimestamp = timestamp
            lastValue = value
        }
        return kept
    }

    /// Merges `other` into this one, `other` taken as later in the stream. Two exact measurements stay
    /// exact while they hold at most `exactLimit` values together; otherwise the result is a sketch.
    public mutating func merge(_ other: BucketData) {
        count += other.count
        sum += other.sum
        if kind == .measurement { mergeValues(of: other) }
        if other.count > 0 && other.lastTimestamp >= lastTimestamp {
            lastTimestamp = other.lastTimestamp
            lastValue = other.lastValue
        }
    }

    /// Whether this is a measurement with values to report (exact or sketched).
    public var hasValues: Bool { !values.isEmpty || (sketched && summary.count > 0) }

    /// Whether the measurement's percentiles are exact (no sketch).
    public var isExact: Bool { !sketched }

    /// Approximate bytes held by the values (or the sketch).
    public var approximateValueBytes: Int { 8 * values.count + (sketched ? summary.approximateBytes : 0) }

    /// Turns a measurement holding more than `exactLimit` values into a sketch (a bucket read from
    /// records an older receiver wrote, which kept every value).
    public mutating func compact() {
        if kind == .measurement && !sketched && values.count > Self.exactLimit { becomeSketch() }
    }

    /// Moves the values into a sketch.
    @usableFromInline
    mutating func becomeSketch() {
        summary = QuantileSketch(values)
        sketched = true
        values = []
    }

    private mutating func mergeValues(of other: BucketData) {
        if !sketched && !other.sketched && values.count + other.values.count <= Self.exactLimit {
            values.append(contentsOf: other.values)
            return
        }
        if !sketched { becomeSketch() }
        if other.sketched { summary.merge(other.summary) }
        for v in other.values { summary.add(v) }
    }
}
