import Foundation
import XCTest
@testable import L2metCore

/// Measurement buckets: exact nearest-rank percentiles up to `BucketData.exactLimit` values, a
/// `QuantileSketch` within α = 1 % above it, merging and the two record layouts.
final class QuantileSketchTests: XCTestCase {
    private let alpha = QuantileSketch.relativeAccuracy
    private let limit = BucketData.exactLimit

    // MARK: helpers

    /// A small deterministic generator (SplitMix64).
    struct Random {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
        mutating func uniform(_ a: Double, _ b: Double) -> Double { a + (b - a) * unit() }
        mutating func normal() -> Double {
            let u1 = Swift.max(unit(), 1e-300), u2 = unit()
            return sqrt(-2 * log(u1)) * cos(2 * Double.pi * u2)
        }
        mutating func lognormal(mu: Double, sigma: Double) -> Double { exp(mu + sigma * normal()) }
    }

    enum Distribution: CaseIterable {
        case uniform, lognormal, routerService, mixedSigns, heavyTail
    }

    func values(_ d: Distribution, _ n: Int, seed: UInt64) -> [Double] {
        var r = Random(state: seed)
        return (0..<n).map { _ in
            switch d {
            case .uniform: return r.uniform(0.1, 40)
            case .lognormal: return r.lognormal(mu: 0, sigma: 2)
            // gen_body.py's router lines: service=int(lognormvariate(3, 1))ms; many repeats and some zeros.
            case .routerService: return Double(Int(r.lognormal(mu: 3, sigma: 1)))
            case .mixedSigns: return r.unit() < 0.05 ? 0 : r.normal() * 100
            case .heavyTail: return pow(10, r.uniform(-6, 9))
            }
        }
    }

    func measurement(_ values: [Double], from t: Int64 = 0) -> BucketData {
        var d = BucketData(kind: .measurement)
        for (i, v) in values.enumerated() { d.add(v, timestamp: t + Int64(i)) }
        return d
    }

    /// The exact nearest-rank percentile: x[ceil(p/100 · n)] of the sorted values.
    func exact(_ sorted: [Double], _ p: Int) -> Double { sorted[Statistics.rank(p, of: sorted.count) - 1] }

    func assertWithinAlpha(_ estimate: Double, _ truth: Double, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        // α plus a few ulps for the logarithm at a bin's edge.
        XCTAssertLessThanOrEqual(abs(estimate - truth), alpha * abs(truth) * (1 + 1e-9), "\(what): \(estimate) vs \(truth)",
                                 file: file, line: line)
    }

    /// The relative error of every 37th rank and of the reported percentiles; returns the largest.
    @discardableResult
    func checkSketch(_ data: BucketData, against all: [Double], _ what: String, file: StaticString = #filePath, line: UInt = #line) -> Double {
        let sorted = all.sorted()
        guard let sketch = data.sketch else {
            XCTFail("\(what): not a sketch", file: file, line: line)
            return .infinity
        }
        XCTAssertEqual(sketch.count, UInt64(all.count), what, file: file, line: line)
        var worst = 0.0
        var r = 1
        while r <= sorted.count {
            let e = sketch.value(atRank: UInt64(r)), t = sorted[r - 1]
            assertWithinAlpha(e, t, "\(what) rank \(r)", file: file, line: line)
            if t != 0 { worst = max(worst, abs(e - t) / abs(t)) }
            r += 37
        }
        let s = Statistics(data)
        XCTAssertEqual(s.count, all.count, what, file: file, line: line)
        XCTAssertEqual(s.min, sorted.first!, what, file: file, line: line)
        XCTAssertEqual(s.max, sorted.last!, what, file: file, line: line)
        let squares = sorted.reduce(0) { $0 + $1 * $1 }
        XCTAssertEqual(s.sumSquares, squares, accuracy: squares * 1e-9, what, file: file, line: line)
        for (p, v) in [(50, s.median), (95, s.perc95), (99, s.perc99)] {
            assertWithinAlpha(v, exact(sorted, p), "\(what) p\(p)", file: file, line: line)
            if exact(sorted, p) != 0 { worst = max(worst, abs(v - exact(sorted, p)) / abs(exact(sorted, p))) }
        }
        return worst
    }

    // MARK: exact below the threshold

    func testExactUpToTheLimitAndBitIdentical() {
        for d in Distribution.allCases {
            let vs = values(d, limit, seed: 7)
            let data = measurement(vs)
            XCTAssertTrue(data.isExact, "\(d)")
            XCTAssertEqual(data.values, vs)
            // The figures today's code gave: sort, sum the squares in order, nearest rank.
            let sorted = vs.sorted()
            let s = Statistics(data)
            XCTAssertEqual(s.count, limit)
            XCTAssertEqual(s.min.bitPattern, sorted[0].bitPattern)
            XCTAssertEqual(s.max.bitPattern, sorted[limit - 1].bitPattern)
            XCTAssertEqual(s.sumSquares.bitPattern, sorted.reduce(0.0) { $0 + $1 * $1 }.bitPattern, "\(d)")
            XCTAssertEqual(s.median.bitPattern, exact(sorted, 50).bitPattern)
            XCTAssertEqual(s.perc95.bitPattern, exact(sorted, 95).bitPattern)
            XCTAssertEqual(s.perc99.bitPattern, exact(sorted, 99).bitPattern)
        }
        // One more value: a sketch.
        var data = measurement(values(.uniform, limit, seed: 7))
        data.add(3, timestamp: 99_999)
        XCTAssertFalse(data.isExact)
        XCTAssertTrue(data.values.isEmpty)
        XCTAssertEqual(data.count, limit + 1)
        XCTAssertEqual(data.lastValue, 3)
    }

    // MARK: relative error above it

    func testRelativeErrorWithinAlphaOnSeveralDistributions() {
        for d in Distribution.allCases {
            let vs = values(d, 200_000, seed: 11)
            let data = measurement(vs)
            let worst = checkSketch(data, against: vs, "\(d)")
            XCTAssertLessThanOrEqual(worst, alpha * (1 + 1e-9))
            let sorted = vs.sorted(), s = Statistics(data)
            func err(_ p: Int, _ v: Double) -> String {
                let t = exact(sorted, p)
                return t == 0 ? (v == 0 ? "exact (0)" : "\(v) for 0") : String(format: "%.4f %%", 100 * abs(v - t) / abs(t))
            }
            print("\(d), 200,000 values: worst relative error over every 37th rank \(String(format: "%.4f %%", 100 * worst)); "
                  + "median \(err(50, s.median)), perc95 \(err(95, s.perc95)), perc99 \(err(99, s.perc99))")
            XCTAssertEqual(data.sum, vs.reduce(0, +), "the sum is added as before")
        }
    }

    /// Router service times through the register, as a drain delivers them.
    func testRouterLinesThroughTheRegister() {
        var r = Random(state: 3)
        var body: [UInt8] = []
        var service: [Double] = []
        let ts = "2025-11-22T19:00:10+00:00"
        for _ in 0..<20_000 {
            let v = Int(r.lognormal(mu: 3, sigma: 1))
            service.append(Double(v))
            let line = "<158>1 \(ts) host heroku router - at=info method=GET path=\"/\" host=a.example.com "
                + "dyno=web.1 connect=1ms service=\(v)ms status=200 bytes=10 protocol=https\n"
            body += Array("\(line.utf8.count) \(line)".utf8)
        }
        let register = Register(deadline: 2)
        let now: Int64 = 1_763_838_015_000_000
        let counts = register.ingest(body, options: DrainOptions(token: "t", resolution: 60), nowMicros: now)
        XCTAssertEqual(counts.lines, 20_000)
        // The hot bucket stopped growing once it became a sketch: 3 buckets, about 3 × 32 KiB at most.
        XCTAssertLessThan(register.approximateBytes, 3 * (BucketData.exactLimit * 8 + 1_000))
        let buckets = register.takeAll()
        let data = buckets.first { $0.key.name == "router.service" }!.data
        checkSketch(data, against: service, "router.service")
        // Through the store's bytes as well.
        var bytes: [UInt8] = []
        BucketCodec.encode(data, into: &bytes)
        XCTAssertLessThan(bytes.count, 2_000)
        XCTAssertEqual(BucketCodec.decode(bytes), data)
    }

    func testNegativeValuesAndZero() {
        var vs = values(.mixedSigns, 50_000, seed: 5)
        vs += Array(repeating: 0, count: 5_000) + Array(repeating: -0.0, count: 100)
        let data = measurement(vs)
        checkSketch(data, against: vs, "mixed signs")
        XCTAssertGreaterThan(data.sketch!.zeroCount, 5_000)
        // Only negative values.
        let negatives = values(.lognormal, 30_000, seed: 6).map { -$0 }
        checkSketch(measurement(negatives), against: negatives, "negative")
        // Mostly zeros: the median is exactly 0.
        let zeros = Array(repeating: 0.0, count: 9_000) + values(.uniform, 1_000, seed: 8)
        XCTAssertEqual(Statistics(measurement(zeros)).median, 0)
    }

    func testMinMaxClampAndEqualValues() {
        // One value repeated: every figure is that value exactly, not its bin's value.
        let same = Array(repeating: 3.7, count: 3 * limit)
        let s = Statistics(measurement(same))
        XCTAssertEqual([s.min, s.median, s.perc95, s.perc99, s.max], [3.7, 3.7, 3.7, 3.7, 3.7])
        XCTAssertEqual(s.count, 3 * limit)
        // Two values: a rank in the lowest bin answers at least min (1, not its bin's 0.99...); one in
        // the top bin at most max, within α.
        let two = Array(repeating: 1.0, count: 5_000) + Array(repeating: 100.0, count: 5_000)
        let t = Statistics(measurement(two))
        XCTAssertEqual(t.median, 1)
        XCTAssertLessThanOrEqual(t.perc99, 100)
        assertWithinAlpha(t.perc99, 100, "perc99")
        XCTAssertEqual(t.max, 100)
        // Rank 1 and rank n are min and max.
        let vs = values(.lognormal, 10_000, seed: 9)
        let sketch = measurement(vs).sketch!
        XCTAssertEqual(sketch.value(atRank: 1), vs.min())
        XCTAssertEqual(sketch.value(atRank: 10_000), vs.max())
        XCTAssertEqual(sketch.percentile(100), vs.max())
    }

    func testConstants() {
        XCTAssertEqual(QuantileSketch.gamma, 1.01 / 0.99)
        XCTAssertEqual(QuantileSketch.a, 6.0 / 35)
        XCTAssertEqual(QuantileSketch.b, -3.0 / 5)
        XCTAssertEqual(QuantileSketch.c, 10.0 / 7)
        XCTAssertEqual(QuantileSketch.multiplier, 0.7 / log(QuantileSketch.gamma), accuracy: 1e-12)
        // Every finite nonzero magnitude has an index within the bound the codec checks.
        for m in [Double.leastNonzeroMagnitude, .leastNormalMagnitude, 1, .greatestFiniteMagnitude] {
            XCTAssertLessThanOrEqual(abs(QuantileSketch.index(m)), QuantileSketch.maxIndexMagnitude, "\(m)")
        }
        XCTAssertEqual(QuantileSketch.index(1), 0)
        XCTAssertEqual(QuantileSketch.index(2), 35)
        XCTAssertEqual(QuantileSketch.index(0.5), -34)
    }

    /// Every bin (lo, hi] has hi/lo ≤ γ, its values map to it, and its value is within α of both ends.
    func testBinsAreWithinGamma() {
        var worstRatio = 0.0
        for i in Array(-37_589 ... -37_000) + Array(-2_000...2_000) + Array(35_000...35_838) {
            let lo = QuantileSketch.binUpperBound(i - 1), hi = QuantileSketch.binUpperBound(i)
            guard lo >= Double.leastNormalMagnitude else { continue }
            worstRatio = max(worstRatio, hi / lo)
            XCTAssertLessThanOrEqual(hi / lo, QuantileSketch.gamma * (1 + 1e-12), "bin \(i)")
            XCTAssertEqual(QuantileSketch.index(lo * (1 + 1e-12)), i, "bin \(i) low end")
            XCTAssertEqual(QuantileSketch.index(hi * (1 - 1e-12)), i, "bin \(i) high end")
            let v = QuantileSketch.binValue(i)
            XCTAssertLessThanOrEqual(abs(v - hi) / hi, alpha * (1 + 1e-9), "bin \(i)")
            XCTAssertLessThanOrEqual(abs(v - lo) / lo, alpha * (1 + 1e-9), "bin \(i)")
        }
        XCTAssertGreaterThan(worstRatio, 1.0199, "the bins are not needlessly narrow")
        // Subnormal magnitudes still map in order.
        var last = Int.min
        for k in stride(from: 0, through: 60, by: 1) {
            let x = Double.leastNonzeroMagnitude * pow(2, Double(k))
            XCTAssertGreaterThanOrEqual(QuantileSketch.index(x), last)
            last = QuantileSketch.index(x)
        }
    }

    func testNonFiniteValuesAreIgnored() {
        var sketch = QuantileSketch([1, 2, 3])
        for v in [Double.nan, .infinity, -.infinity, -Double.nan] { sketch.add(v) }
        XCTAssertEqual(sketch.count, 3)
        XCTAssertEqual(sketch.min, 1)
        XCTAssertEqual(sketch.max, 3)
        XCTAssertEqual(sketch.sumSquares, 14)
        XCTAssertEqual(sketch.percentile(50), 2, accuracy: 2 * alpha)
        XCTAssertEqual(QuantileSketch().percentile(50), 0)
    }

    /// A spread wider than 2,048 bins collapses the lowest bins: the high quantiles stay within α.
    func testBinCapCollapsesOnlyTheLowest() {
        var r = Random(state: 4)
        let vs = (0..<100_000).map { _ in pow(10, r.uniform(-150, 150)) }
        let data = measurement(vs)
        let sketch = data.sketch!
        XCTAssertEqual(sketch.positive.counts.count, QuantileSketch.maxBinsPerSign)
        let sorted = vs.sorted()
        // 2,048 bins span about 17.6 decades of the 300: ranks above the lowest ~94 % are exact to α.
        for p in [95, 99] { assertWithinAlpha(sketch.percentile(p), exact(sorted, p), "p\(p)") }
        XCTAssertEqual(sketch.min, sorted[0])
        // Negative values collapse the most negative ones (their lowest quantiles), keeping the rest.
        let negatives = vs.map { -$0 }
        let n = measurement(negatives).sketch!
        XCTAssertEqual(n.negative.counts.count, QuantileSketch.maxBinsPerSign)
        let nsorted = negatives.sorted()
        for p in [95, 99] { assertWithinAlpha(n.percentile(p), exact(nsorted, p), "negative p\(p)") }
        // Merging in any order collapses to the same bins.
        let half = vs.count / 2
        var a = measurement(Array(vs[..<half])), b = measurement(Array(vs[half...]))
        let ab = { var x = a; x.merge(b); return x.sketch! }()
        b.merge(a)
        a = b
        XCTAssertEqual(ab.positive, a.sketch!.positive)
        XCTAssertEqual(ab.count, a.sketch!.count)
    }

    /// What the destinations get from a sketched bucket: exact count, sum, min, max; percentiles within 1 %.
    func testPayloadsOfASketchedBucket() {
        let vs = values(.routerService, 50_000, seed: 13)
        let data = measurement(vs)
        XCTAssertFalse(data.isExact)
        let sorted = vs.sorted()
        let key = BucketKey(token: "t", name: "router.service", source: "", kind: .measurement, units: "ms",
                            resolution: 60, time: 1_763_838_000)
        let gauges = LibratoPayload.gauges(for: key, data: data)
        XCTAssertEqual(gauges.map(\.name), ["router.service", "router.service.median", "router.service.perc95",
                                             "router.service.perc99"])
        XCTAssertEqual(gauges[0].count, 50_000)
        XCTAssertEqual(gauges[0].sum, vs.reduce(0, +))
        XCTAssertEqual(gauges[0].min, sorted.first)
        XCTAssertEqual(gauges[0].max, sorted.last)
        for (g, p) in zip(gauges.dropFirst(), [50, 95, 99]) { assertWithinAlpha(g.value!, exact(sorted, p), g.name) }
        let point = OTLPPayload.dataPoint(for: key, data: data)!
        XCTAssertEqual(point.count, 50_000)
        XCTAssertEqual(point.quantiles.first?.1, sorted.first)
        XCTAssertEqual(point.quantiles.last?.1, sorted.last)
        assertWithinAlpha(point.quantiles[2].1, exact(sorted, 95), "otlp 0.95")
    }

    // MARK: merging

    func testMergeIsExactWhileSmallAndASketchPastTheLimit() {
        let vs = values(.routerService, 3 * 1_000, seed: 12)
        var a = measurement(Array(vs[0..<1_000])), b = measurement(Array(vs[1_000..<2_000]))
        let c = measurement(Array(vs[2_000...]))
        a.merge(b)
        a.merge(c)
        XCTAssertTrue(a.isExact)
        XCTAssertEqual(a.values, vs)
        // Exactly at the limit: still exact; one more value's bucket: a sketch.
        var atLimit = measurement(values(.uniform, limit - 10, seed: 1))
        atLimit.merge(measurement(values(.uniform, 10, seed: 2)))
        XCTAssertTrue(atLimit.isExact)
        atLimit.merge(measurement([5]))
        XCTAssertFalse(atLimit.isExact)
        XCTAssertEqual(atLimit.count, limit + 1)
        b = measurement(values(.uniform, 2_000, seed: 1))
        b.merge(measurement(values(.uniform, 3_000, seed: 2)))
        XCTAssertFalse(b.isExact)
    }

    func testMergeIsAssociativeAndCommutativeInItsResults() {
        for d in Distribution.allCases {
            let vs = values(d, 30_000, seed: 21)
            // Parts of different sizes: exact, exact, sketch, exact.
            let parts = [vs[0..<100], vs[100..<3_000], vs[3_000..<28_000], vs[28_000...]].enumerated().map {
                measurement(Array($0.element), from: Int64($0.offset) * 100_000)
            }
            func fold(_ order: [Int]) -> BucketData {
                var acc = parts[order[0]]
                for i in order.dropFirst() { acc.merge(parts[i]) }
                return acc
            }
            let left = fold([0, 1, 2, 3])
            var right = parts[0]
            var tail = parts[1]
            tail.merge({ var x = parts[2]; x.merge(parts[3]); return x }())
            right.merge(tail)
            let reversed = fold([3, 2, 1, 0])
            let shuffled = fold([2, 0, 3, 1])
            let reference = Statistics(left)
            for other in [right, reversed, shuffled] {
                let s = Statistics(other)
                XCTAssertEqual(other.sketch!.positive, left.sketch!.positive, "\(d)")
                XCTAssertEqual(other.sketch!.negative, left.sketch!.negative, "\(d)")
                XCTAssertEqual(other.sketch!.zeroCount, left.sketch!.zeroCount, "\(d)")
                XCTAssertEqual(s.count, reference.count)
                XCTAssertEqual(s.min, reference.min)
                XCTAssertEqual(s.max, reference.max)
                XCTAssertEqual(s.median, reference.median)
                XCTAssertEqual(s.perc95, reference.perc95)
                XCTAssertEqual(s.perc99, reference.perc99)
                XCTAssertEqual(s.sum, reference.sum, accuracy: abs(reference.sum) * 1e-9 + 1e-9)
                XCTAssertEqual(s.sumSquares, reference.sumSquares, accuracy: reference.sumSquares * 1e-9)
                XCTAssertEqual(s.last, vs.last!, "the last value by timestamp, whatever the order")
            }
            checkSketch(left, against: vs, "merged \(d)")
        }
    }

    // MARK: the store's bytes

    func testCodecRoundTripOfBothLayouts() {
        for d in Distribution.allCases {
            for n in [0, 1, 17, limit, limit + 1, 50_000] {
                let data = measurement(values(d, n, seed: UInt64(n)))
                var bytes: [UInt8] = []
                BucketCodec.encode(data, into: &bytes)
                XCTAssertEqual(bytes.first, n > limit ? BucketCodec.sketchCode : UInt8(ascii: "m"))
                let back = BucketCodec.decode(bytes)
                XCTAssertEqual(back, data, "\(d) \(n)")
                XCTAssertEqual(back?.sketch?.sumSquares.bitPattern, data.sketch?.sumSquares.bitPattern)
            }
        }
    }

    func testConcatenatedRecordsOfMixedLayoutsDecodeToTheMerge() {
        let vs = values(.lognormal, 20_000, seed: 31)
        let parts = [vs[0..<1_000], vs[1_000..<9_000], vs[9_000..<9_500], vs[9_500..<19_000], vs[19_000...]].enumerated().map {
            measurement(Array($0.element), from: Int64($0.offset) * 100_000)
        }
        var bytes: [UInt8] = []
        var merged = parts[0]
        for p in parts { BucketCodec.encode(p, into: &bytes) }
        for p in parts.dropFirst() { merged.merge(p) }
        XCTAssertEqual(Set(parts.map(\.isExact)), [true, false])
        XCTAssertEqual(BucketCodec.decode(bytes), merged)
        checkSketch(BucketCodec.decode(bytes)!, against: vs, "decoded")
        // Exact records that together pass the limit decode to a sketch; within it, to exact values.
        var twoExact: [UInt8] = []
        BucketCodec.encode(measurement(Array(vs[0..<3_000])), into: &twoExact)
        BucketCodec.encode(measurement(Array(vs[3_000..<6_000])), into: &twoExact)
        checkSketch(BucketCodec.decode(twoExact)!, against: Array(vs[0..<6_000]), "two exact")
        var small: [UInt8] = []
        BucketCodec.encode(measurement(Array(vs[0..<2_000])), into: &small)
        BucketCodec.encode(measurement(Array(vs[2_000..<4_000])), into: &small)
        XCTAssertEqual(BucketCodec.decode(small)?.values, Array(vs[0..<4_000]))
    }

    /// Records written before the sketch (every value kept) still read; past the limit, as a sketch.
    func testLegacyRecordsStillDecode() {
        let vs = values(.routerService, 10_000, seed: 41)
        var d = BucketData(kind: .measurement)
        d.values = vs
        d.count = vs.count
        d.sum = vs.reduce(0, +)
        d.lastTimestamp = 5
        d.lastValue = vs.last!
        var bytes: [UInt8] = [UInt8(ascii: "m")]
        withUnsafeBytes(of: UInt32(vs.count).littleEndian) { bytes += $0 }
        withUnsafeBytes(of: d.sum.bitPattern.littleEndian) { bytes += $0 }
        withUnsafeBytes(of: Int64(5).littleEndian) { bytes += $0 }
        withUnsafeBytes(of: vs.last!.bitPattern.littleEndian) { bytes += $0 }
        for v in vs { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes += $0 } }
        var encoded: [UInt8] = []
        BucketCodec.encode(d, into: &encoded)
        XCTAssertTrue(encoded == bytes, "an exact record's layout is unchanged")
        let back = BucketCodec.decode(bytes)!
        XCTAssertEqual(back.count, 10_000)
        XCTAssertEqual(back.lastValue, vs.last!)
        checkSketch(back, against: vs, "legacy")
    }

    func testEncodedSizeIsBoundedWithTenMillionValues() {
        var r = Random(state: 77)
        var data = BucketData(kind: .measurement)
        for i in 0..<10_000_000 {
            data.add(Double(Int(r.lognormal(mu: 3, sigma: 1))) + 0.001 * Double(i & 1023), timestamp: Int64(i))
        }
        var bytes: [UInt8] = []
        BucketCodec.encode(data, into: &bytes)
        print("10 M router-like values: a \(bytes.count)-byte record (was \(BucketCodec.headerSize + 80_000_000)); "
              + "\(data.approximateValueBytes) bytes in memory; bins \(data.sketch!.positive.counts.count)")
        XCTAssertLessThanOrEqual(bytes.count, 4_000)
        XCTAssertEqual(BucketCodec.decode(bytes)?.count, 10_000_000)

        // The worst case: both signs over the widest spread, every bin of each sign used.
        var wide = QuantileSketch()
        for i in 0..<2 * QuantileSketch.maxBinsPerSign + 100 {
            let m = QuantileSketch.binValue(i - 100) * 0x1p100
            wide.add(m)
            wide.add(-m)
        }
        var worst = BucketData(kind: .measurement)
        worst.sketch = wide
        worst.count = Int(wide.count)
        for _ in 0..<10_000_000 { worst.sketch!.add(0x1p100) }   // large counts: 4-byte varints
        var wbytes: [UInt8] = []
        BucketCodec.encode(worst, into: &wbytes)
        XCTAssertEqual(worst.sketch!.positive.counts.count, QuantileSketch.maxBinsPerSign)
        XCTAssertEqual(worst.sketch!.negative.counts.count, QuantileSketch.maxBinsPerSign)
        XCTAssertLessThanOrEqual(wbytes.count, BucketCodec.maxSketchRecordSize)
        XCTAssertEqual(BucketCodec.maxSketchRecordSize, 41_033, "the bound docs/redis-schema.md states")
        XCTAssertLessThanOrEqual(worst.approximateValueBytes, 32 * 1024 + 200)
        print("both signs, every bin: a \(wbytes.count)-byte record (bound \(BucketCodec.maxSketchRecordSize))")
    }

    func testHostileSketchRecords() {
        var good: [UInt8] = []
        BucketCodec.encode(measurement(values(.mixedSigns, 6_000, seed: 1)), into: &good)
        XCTAssertNotNil(BucketCodec.decode(good))
        // Every truncation is refused.
        for n in stride(from: BucketCodec.headerSize, to: good.count, by: 7) {
            XCTAssertNil(BucketCodec.decode(good[..<n]), "truncated at \(n)")
        }
        func sketchRecord(min: Double = 1, max: Double = 2, zero: [UInt8] = [0], bins: [UInt8]) -> [UInt8] {
            var out: [UInt8] = [BucketCodec.sketchCode] + [UInt8](repeating: 0, count: BucketCodec.headerSize - 1)
            withUnsafeBytes(of: min.bitPattern.littleEndian) { out += $0 }
            withUnsafeBytes(of: max.bitPattern.littleEndian) { out += $0 }
            out += [UInt8](repeating: 0, count: 8)
            return out + zero + bins
        }
        XCTAssertNotNil(BucketCodec.decode(sketchRecord(bins: [1, 2, 5, 0])))
        XCTAssertNil(BucketCodec.decode(sketchRecord(bins: [0x81, 0x10] + [0])), "2,049 bins")
        XCTAssertNil(BucketCodec.decode(sketchRecord(bins: [1, 0xC2, 0xF1, 0x04, 5, 0])), "index past 40,000")
        XCTAssertNil(BucketCodec.decode(sketchRecord(bins: [0, 48, 0xFE] + [UInt8](repeating: 0xFF, count: 8) + [1, 5])),
                     "an index near 2^63 (found by scripts/fuzz format: the range check overflowed)")
        XCTAssertNil(BucketCodec.decode(Data(base64Encoded: "TQMAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAwMDAwMDAwMDAwMDAwAAAAAP9nAAAAAAAAADDw//////////8BAXT///////////8=")!))
        XCTAssertNil(BucketCodec.decode(sketchRecord(min: 3, max: 2, bins: [1, 2, 5, 0])), "min above max")
        XCTAssertNil(BucketCodec.decode(sketchRecord(min: .nan, bins: [1, 2, 5, 0])), "NaN min")
        XCTAssertNil(BucketCodec.decode(sketchRecord(zero: [UInt8](repeating: 0xFF, count: 10) + [1], bins: [0, 0])),
                     "a varint past 64 bits")
        // No values: min and max do not matter and no gauge comes out.
        let empty = BucketCodec.decode(sketchRecord(min: .nan, bins: [0, 0]))!
        XCTAssertFalse(empty.hasValues)
        let key = BucketKey(token: "t", name: "n", source: "", kind: .measurement, units: "", resolution: 60, time: 60)
        XCTAssertEqual(LibratoPayload.gauges(for: key, data: empty), [])
        // Zero bins at the ends are trimmed, so the decoded sketch equals one built by adding.
        let padded = BucketCodec.decode(sketchRecord(bins: [4, 0, 0, 3, 0, 0, 0]))!
        XCTAssertEqual(padded.sketch!.positive.counts, [3])
        XCTAssertEqual(padded.sketch!.positive.offset, 1)
        // Counts near 2^64 wrap rather than trap; the answers stay within [min, max].
        let huge = [UInt8](repeating: 0xFF, count: 9) + [1]
        let wrapped = BucketCodec.decode(sketchRecord(zero: huge, bins: [2, 2] + huge + huge + [0])
                                         + sketchRecord(zero: huge, bins: [1, 2] + huge + [0]))!
        let s = Statistics(wrapped)
        for v in [s.median, s.perc95, s.perc99] { XCTAssertTrue(v >= 1 && v <= 2) }
    }
}
