/// The figures an outlet reports for one bucket: count, sum, min, max, sum of squares, the last value,
/// and nearest-rank percentiles (sort ascending; the p-th percentile is x[ceil(p/100 · n)], 1-based).
///
/// Figures that need the individual values (min, max, sum of squares, percentiles) come from
/// `BucketData.values` while the measurement is exact (up to `BucketData.exactLimit` values) and
/// from its `QuantileSketch` above that: count, sum, min, max and sum of squares are exact either
/// way; percentiles are exact up to 4,096 values per interval and within 1 % relative error above
/// (`QuantileSketch.relativeAccuracy`). They are 0 when there are no values.
public struct Statistics: Sendable, Equatable {
    public var count: Int
    public var sum: Double
    public var min: Double
    public var max: Double
    public var sumSquares: Double
    /// The value with the latest timestamp (equal timestamps: the later in the stream).
    public var last: Double
    public var median: Double
    public var perc95: Double
    public var perc99: Double

    public init(_ data: BucketData) {
        sum = data.sum
        last = data.lastValue
        if data.kind == .measurement, let sketch = data.sketch {
            count = data.count
            guard sketch.count > 0 else {
                min = 0; max = 0; sumSquares = 0; median = 0; perc95 = 0; perc99 = 0
                return
            }
            min = sketch.min
            max = sketch.max
            sumSquares = sketch.sumSquares
            median = sketch.percentile(50)
            perc95 = sketch.percentile(95)
            perc99 = sketch.percentile(99)
            return
        }
        count = data.kind == .measurement ? data.values.count : data.count
        guard !data.values.isEmpty else {
            min = 0; max = 0; sumSquares = 0; median = 0; perc95 = 0; perc99 = 0
            return
        }
        var sorted = data.values
        sorted.sort()
        var squares = 0.0
        for v in sorted { squares += v * v }
        sumSquares = squares
        min = sorted[0]
        max = sorted[sorted.count - 1]
        median = sorted[Self.rank(50, of: sorted.count) - 1]
        perc95 = sorted[Self.rank(95, of: sorted.count) - 1]
        perc99 = sorted[Self.rank(99, of: sorted.count) - 1]
    }

    /// The 1-based nearest rank of the `percent`-th percentile among `n` sorted values:
    /// ceil(percent · n / 100), in integer arithmetic (no floating error), within 1...n.
    public static func rank(_ percent: Int, of n: Int) -> Int {
        guard n > 0 else { return 1 }
        let (product, overflow) = percent.multipliedReportingOverflow(by: n)
        let r = overflow ? Int((Double(percent) * Double(n) / 100).rounded(.up)) : (product + 99) / 100
        return Swift.min(Swift.max(r, 1), n)
    }
}
