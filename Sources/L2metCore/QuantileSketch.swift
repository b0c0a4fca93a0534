/// A bounded, mergeable summary of many values with relative-error quantiles (DDSketch, Masson, Rim
/// and Lee, VLDB 2019). A measurement bucket becomes one once it holds more than
/// `BucketData.exactLimit` values.
///
/// - count, min, max and the sum of squares are exact (min and max are the values themselves).
/// - A nonzero finite x falls in bin i = ceil(K · L(|x|)), where L is DDSketch's cubically
///   interpolated logarithm: for |x| = 2^e · (1 + s), s in [0, 1), L = e + P(s) with
///   P(s) = (6/35)s³ − (3/5)s² + (10/7)s (P(0) = 0, P(1) = 1, increasing). L is within 0.0015 of
///   log2 and is a handful of multiply-adds on the bits of x (libm's `log` and `ceil` took 3 % of the
///   parse benchmark's time). K = 0.7/ln γ, γ = (1 + α)/(1 − α), α = `relativeAccuracy` (1 %), makes every bin
///   (lo, hi] satisfy hi/lo ≤ γ (the slope of ln x against L is at most 0.7), only 1 % more bins than
///   ceil(log_γ |x|) would use. Positive and negative values have a set of bins each (keyed by |x|),
///   zeros (±0) a count of their own. The value of a bin is 2·lo·hi/(lo + hi), within
///   (γ − 1)/(γ + 1) = α of every x in the bin.
/// - Quantiles walk the bins in value order to the nearest rank and answer the bin's value clamped to
///   [min, max]; rank 1 is min and rank n is max exactly. The answer is within α·|x| of x, the
///   value at that rank, as long as no bin was collapsed (below).
/// - Each sign keeps at most `maxBinsPerSign` (2,048) consecutive bins: 2,048 bins span a factor
///   2^(2048/K) ≈ 4·10^17 between the smallest and largest magnitude (1 ns to 12 years, in one unit).
///   Past that, the bins farthest below the rest of the distribution are merged into the lowest
///   kept one: the smallest positive magnitudes, the largest negative ones. Only the lowest
///   quantiles lose accuracy then; the highest never do.
/// - Memory: at most 2 × 2,048 counts of 8 bytes (32 KiB) plus about 100 bytes, whatever the number
///   of values. See `BucketCodec` for the encoded bound.
/// - Non-finite input (NaN, ±inf) is ignored (the value parser never makes it; store bytes might).
///
/// Merging adds counts bin by bin; the merged bins do not depend on the order of merges (collapsing
/// keeps the top 2,048 bins of everything seen whichever way it came).
public struct QuantileSketch: Sendable, Equatable {
    /// α: every quantile is within this fraction of the exact nearest-rank value.
    public static let relativeAccuracy = 0.01
    /// γ = (1 + α)/(1 − α).
    public static let gamma = (1 + relativeAccuracy) / (1 - relativeAccuracy)
    /// The mapping's constants as literals (a computed static would go through a lazy initialiser on
    /// every add); a test checks them. P(s) = ((a·s + b)·s + c)·s.
    static let a = 0.17142857142857143  // 6/35
    static let b = -0.6                 // -3/5
    static let c = 1.4285714285714286   // 10/7
    /// K = 0.7/ln γ: bins per unit of L (per octave).
    static let multiplier = 34.998833302220746
    /// Bins kept per sign.
    public static let maxBinsPerSign = 2048
    /// No finite nonzero double has a bin index beyond this (5e-324 is about −37,590, 1.8e308 about 35,840).
    public static let maxIndexMagnitude = 40_000

    /// Finite values added (wrapping: only hostile store bytes can come near 2^64).
    public private(set) var count: UInt64 = 0
    /// Values equal to zero.
    public private(set) var zeroCount: UInt64 = 0
    /// The smallest value added (+inf while empty).
    public private(set) var min: Double = .infinity
    /// The largest value added (−inf while empty).
    public private(set) var max: Double = -.infinity
    /// The sum of the squares of the values added.
    public private(set) var sumSquares: Double = 0
    /// Bins of the positive values.
    public private(set) var positive = Bins(collapsesHighest: false)
    /// Bins of the negative values, indexed by |x|.
    public private(set) var negative = Bins(collapsesHighest: true)

    public init() {}

    public init<S: Sequence>(_ values: S) where S.Element == Double {
        for v in values { add(v) }
    }

    /// Adds one value; non-finite values are ignored.
    public mutating func add(_ value: Double) {
        guard value.isFinite else { return }
        count &+= 1
        if value < min { min = value }
        if value > max { max = value }
        sumSquares += value * value
        if value > 0 {
            positive.add(Self.index(value), 1)
        } else if value < 0 {
            negative.add(Self.index(-value), 1)
        } else {
            zeroCount &+= 1
        }
    }

    /// Adds everything `other` holds.
    public mutating func merge(_ other: QuantileSketch) {
        guard other.count > 0 else { return }
        count &+= other.count
        zeroCount &+= other.zeroCount
        if other.min < min { min = other.min }
        if other.max > max { max = other.max }
        sumSquares += other.sumSquares
        positive.merge(other.positive)
        negative.merge(other.negative)
    }

    /// The bin of a positive finite magnitude: ceil(K · L(magnitude)).
    @inline(__always)
    public static func index(_ magnitude: Double) -> Int {
        var bits = magnitude.bitPattern
        var e = Int(truncatingIfNeeded: (bits >> 52) & 0x7FF) - 1023
        if e == -1023 {
            // Subnormal: scaled into the normal range first.
            bits = (magnitude * 0x1p64).bitPattern
            e = Int(truncatingIfNeeded: (bits >> 52) & 0x7FF) - 1023 - 64
        }
        let s = Double(bitPattern: (bits & 0x000F_FFFF_FFFF_FFFF) | 0x3FF0_0000_0000_0000) - 1
        let t = (Double(e) + ((a * s + b) * s + c) * s) * multiplier
        // ceil(t) without libm's ceil (a call on baseline x86-64): truncation is ceil for t <= 0.
        let i = Int(t)
        return Double(i) < t ? i + 1 : i
    }

    /// The magnitude at which L reaches `i / K`: the upper end of bin `i` (and the lower end of bin i + 1).
    public static func binUpperBound(_ i: Int) -> Double {
        let mapped = Double(i) / multiplier
        let e = mapped.rounded(.down)
        let target = mapped - e
        // P(s) = target by Newton's method (P' is at least 0.74 on [0, 1]).
        var s = target
        for _ in 0..<8 {
            s -= (((a * s + b) * s + c) * s - target) / ((3 * a * s + 2 * b) * s + c)
            s = Swift.min(Swift.max(s, 0), 1)
        }
        return Double(sign: .plus, exponent: Int(e), significand: 1 + s)
    }

    /// The value of bin `i` (for positive values): 2·lo·hi/(lo + hi), within α of both ends.
    public static func binValue(_ i: Int) -> Double {
        let lo = binUpperBound(i - 1), hi = binUpperBound(i)
        guard lo > 0, hi.isFinite else { return lo > 0 ? lo : hi }
        let r = hi / lo
        return lo * (2 * r / (1 + r))
    }

    /// The value at the 1-based `rank` in ascending order (nearest rank), within α of the exact one;
    /// 0 when empty. Rank 1 is `min`, ranks from `count` on are `max`.
    public func value(atRank rank: UInt64) -> Double {
        guard count > 0 else { return 0 }
        if rank <= 1 { return min }
        if rank >= count { return max }
        var seen: UInt64 = 0
        var k = negative.counts.count - 1
        while k >= 0 {
            seen &+= negative.counts[k]
            if seen >= rank { return clamped(-Self.binValue(negative.offset + k)) }
            k -= 1
        }
        seen &+= zeroCount
        if seen >= rank { return clamped(0) }
        for k in positive.counts.indices {
            seen &+= positive.counts[k]
            if seen >= rank { return clamped(Self.binValue(positive.offset + k)) }
        }
        return max
    }

    /// The nearest-rank `percent`-th percentile (see `Statistics.rank`).
    public func percentile(_ percent: Int) -> Double {
        value(atRank: UInt64(Statistics.rank(percent, of: Int(clamping: count))))
    }

    @inline(__always)
    private func clamped(_ v: Double) -> Double { Swift.min(Swift.max(v, min), max) }

    /// Approximate bytes held.
    public var approximateBytes: Int { 112 + 8 * (positive.counts.count + negative.counts.count) }

    /// A sketch from its parts (the codec). The bins are taken as given, except that zero bins at
    /// either end are dropped and more than `maxBinsPerSign` collapse as usual; `count` is their total.
    /// min and max are reset when there are no values.
    init(zeroCount: UInt64, min: Double, max: Double, sumSquares: Double, positive: Bins, negative: Bins) {
        self.zeroCount = zeroCount
        self.sumSquares = sumSquares
        self.positive.merge(positive)
        self.negative.merge(negative)
        count = zeroCount &+ self.positive.total &+ self.negative.total
        if count > 0 {
            self.min = min
            self.max = max
        }
    }

    /// Consecutive bins of one sign: `counts[k]` is the count of bin `offset + k`. Nonempty bins
    /// always have a nonzero count at both ends, so equal contents are equal values.
    public struct Bins: Sendable, Equatable {
        /// The index of `counts[0]`.
        public private(set) var offset: Int = 0
        public private(set) var counts: [UInt64] = []
        /// Which end gives way past `maxBinsPerSign`: the highest indices (negative values: the most
        /// negative ones) or the lowest (positive values: the smallest).
        public let collapsesHighest: Bool

        public init(collapsesHighest: Bool) {
            self.collapsesHighest = collapsesHighest
        }

        /// Bins as read from bytes: `counts[k]` for bin `offset + k` (may have zero ends, any length).
        init(collapsesHighest: Bool, offset: Int, counts: [UInt64]) {
            self.collapsesHighest = collapsesHighest
            self.offset = offset
            self.counts = counts
        }

        /// The sum of the counts.
        public var total: UInt64 { counts.reduce(0, &+) }

        @inline(__always)
        mutating func add(_ index: Int, _ n: UInt64) {
            let k = index &- offset
            if k >= 0 && k < counts.count {
                counts[k] &+= n
            } else {
                addOutside(index, n)
            }
        }

        mutating func addOutside(_ index: Int, _ n: UInt64) {
            if counts.isEmpty {
                cover(index, index)
            } else {
                cover(Swift.min(offset, index), Swift.max(offset + counts.count - 1, index))
            }
            counts[clamp(index) - offset] &+= n
        }

        /// Adds every bin of `other`.
        mutating func merge(_ other: Bins) {
            guard let first = other.counts.firstIndex(where: { $0 != 0 }),
                  let last = other.counts.lastIndex(where: { $0 != 0 }) else { return }
            let lo = other.offset + first, hi = other.offset + last
            if counts.isEmpty {
                cover(lo, hi)
            } else {
                cover(Swift.min(offset, lo), Swift.max(offset + counts.count - 1, hi))
            }
            for k in first...last where other.counts[k] != 0 {
                counts[clamp(other.offset + k) - offset] &+= other.counts[k]
            }
        }

        @inline(__always)
        private func clamp(_ i: Int) -> Int { Swift.min(Swift.max(i, offset), offset + counts.count - 1) }

        /// Makes the bins span `lo...hi`, or its `maxBinsPerSign` bins at the kept end; bins outside
        /// go into the nearest kept bin.
        private mutating func cover(_ lo: Int, _ hi: Int) {
            var newLo = lo, newHi = hi
            if newHi - newLo + 1 > QuantileSketch.maxBinsPerSign {
                if collapsesHighest {
                    newHi = newLo + QuantileSketch.maxBinsPerSign - 1
                } else {
                    newLo = newHi - QuantileSketch.maxBinsPerSign + 1
                }
            }
            if !counts.isEmpty && newLo == offset && newHi == offset + counts.count - 1 { return }
            var fresh = [UInt64](repeating: 0, count: newHi - newLo + 1)
            for k in counts.indices where counts[k] != 0 {
                let i = Swift.min(Swift.max(offset + k, newLo), newHi)
                fresh[i - newLo] &+= counts[k]
            }
            counts = fresh
            offset = newLo
        }
    }
}
