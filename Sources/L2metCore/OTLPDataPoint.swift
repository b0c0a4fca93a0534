/// One bucket as an OTLP data point, with the identity of the metric it belongs to (name, kind, unit).
///
/// - measurement: a Summary point: `count`, `sum`, and quantiles 0 (min), 0.5, 0.95, 0.99 (nearest
///   rank, as for Librato) and 1 (max).
/// - counter: a Sum point (delta, monotonic), `value` = the sum of the interval.
/// - sample: a Gauge point, `value` = the last value of the interval.
public struct OTLPDataPoint: Sendable, Equatable {
    public var name: String
    public var kind: MetricKind
    /// The OTLP unit (`OTLPUnit.ucum`), "" when unknown.
    public var unit: String
    /// The `source` attribute; left out when empty.
    public var source: String
    /// Bucket start and end, unix nanoseconds.
    public var startTimeUnixNano: Int64
    public var timeUnixNano: Int64
    /// Summary: number of values; Sum and Gauge: 0 (unused).
    public var count: Int
    /// Summary: the sum of the values; Sum: the sum; Gauge: the last value.
    public var value: Double
    /// Summary only: (quantile, value), quantiles ascending.
    public var quantiles: [(quantile: Double, value: Double)]

    public init(name: String, kind: MetricKind, unit: String, source: String, startTimeUnixNano: Int64,
                timeUnixNano: Int64, count: Int = 0, value: Double, quantiles: [(quantile: Double, value: Double)] = []) {
        self.name = name
        self.kind = kind
        self.unit = unit
        self.source = source
        self.startTimeUnixNano = startTimeUnixNano
        self.timeUnixNano = timeUnixNano
        self.count = count
        self.value = value
        self.quantiles = quantiles
    }

    public static func == (a: OTLPDataPoint, b: OTLPDataPoint) -> Bool {
        a.name == b.name && a.kind == b.kind && a.unit == b.unit && a.source == b.source
            && a.startTimeUnixNano == b.startTimeUnixNano && a.timeUnixNano == b.timeUnixNano && a.count == b.count
            && a.value == b.value && a.quantiles.count == b.quantiles.count
            && zip(a.quantiles, b.quantiles).allSatisfy { $0.quantile == $1.quantile && $0.value == $1.value }
    }

    /// True when every number in it is finite (OTLP JSON numbers cannot be NaN or infinity).
    public var isFinite: Bool { value.isFinite && quantiles.allSatisfy { $0.value.isFinite } }
}
