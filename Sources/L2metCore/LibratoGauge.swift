/// One gauge measurement as Librato's `POST /v1/metrics` takes it: either a single `value`, or the
/// summary fields `count`, `sum`, `min`, `max`, `sum_squares`.
public struct LibratoGauge: Sendable, Equatable {
    public var name: String
    /// Nil (left out of the JSON) when the bucket has no source.
    public var source: String?
    /// Bucket start, epoch seconds.
    public var measureTime: Int64
    /// The single value; nil for a summary gauge.
    public var value: Double?
    public var count: Int?
    public var sum: Double?
    public var min: Double?
    public var max: Double?
    public var sumSquares: Double?
    /// Written as `attributes.display_units_long`; nil when unknown.
    public var units: String?

    /// A single-value gauge.
    public init(name: String, source: String?, measureTime: Int64, value: Double, units: String?) {
        self.name = name
        self.source = source
        self.measureTime = measureTime
        self.value = value
        self.units = units
    }

    /// A summary gauge.
    public init(name: String, source: String?, measureTime: Int64, count: Int, sum: Double, min: Double,
                max: Double, sumSquares: Double, units: String?) {
        self.name = name
        self.source = source
        self.measureTime = measureTime
        self.count = count
        self.sum = sum
        self.min = min
        self.max = max
        self.sumSquares = sumSquares
        self.units = units
    }

    /// True when every number in it is finite (Librato cannot take NaN or infinity).
    public var isFinite: Bool {
        if let value { return value.isFinite }
        return (sum ?? 0).isFinite && (min ?? 0).isFinite && (max ?? 0).isFinite && (sumSquares ?? 0).isFinite
    }
}
