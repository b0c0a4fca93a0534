/// The byte form of `BucketData` in a store. Records are self-delimiting, so appending the record of a
/// later flush to what is already stored (Redis `APPEND`) and decoding the concatenation yields the merge.
///
/// Two layouts, little-endian, with the same 29-byte header: layout code (1 byte), count (UInt32), sum
/// (Float64), last timestamp (Int64, microseconds), last value (Float64). Then:
///
/// - `m`, `c`, `s` (exact measurement, counter, sample): for `m`, `count` values (Float64 each).
/// - `M` (sketched measurement, a `QuantileSketch`): min, max, sum of squares (Float64 each), the zero
///   count (varint), then the positive bins and the negative bins, each as: number of bins (varint,
///   at most 2,048), and when nonzero, the index of the first bin (zigzag varint, within ±40,000)
///   and each bin's count (varint). Varints are unsigned LEB128, at most 10 bytes.
///
/// An exact measurement record holds at most `BucketData.exactLimit` values (32,797 bytes) when a
/// receiver writes it; a sketch record at most 29 + 24 + 10 + 2 × (2 + 3 + 2,048 × 10) = 41,033 bytes,
/// and in practice a few hundred (a count below 2^21 takes 3 bytes; a 1 % sketch of latencies spans a
/// few hundred bins). Decoding merges records of either layout (`BucketData.merge`): exact while the
/// total stays within `exactLimit`, a sketch otherwise; an `m` record of more values (an older
/// receiver kept them all) is read as a sketch.
public enum BucketCodec {
    /// Bytes in a record before the values (or the sketch).
    public static let headerSize = 1 + 4 + 8 + 8 + 8
    /// The layout code of a sketched measurement record.
    public static let sketchCode = UInt8(ascii: "M")
    /// The largest sketch record.
    public static let maxSketchRecordSize = headerSize + 24 + 10 + 2 * (2 + 3 + QuantileSketch.maxBinsPerSign * 10)

    /// Appends the record of `data` to `out`.
    public static func encode(_ data: BucketData, into out: inout [UInt8]) {
        if data.kind == .measurement, let sketch = data.sketch {
            encodeSketch(data, sketch, into: &out)
            return
        }
        let valueCount = data.kind == .measurement ? data.values.count : 0
        out.reserveCapacity(out.count + headerSize + 8 * valueCount)
        appendHeader(data, code: data.kind.code, to: &out)
        if data.kind == .measurement {
            for v in data.values { append(v.bitPattern.littleEndian, to: &out) }
        }
    }

    private static func appendHeader(_ data: BucketData, code: UInt8, to out: inout [UInt8]) {
        out.append(code)
        append(UInt32(truncatingIfNeeded: data.count).littleEndian, to: &out)
        append(data.sum.bitPattern.littleEndian, to: &out)
        append(data.lastTimestamp.littleEndian, to: &out)
        append(data.lastValue.bitPattern.littleEndian, to: &out)
    }

    private static func encodeSketch(_ data: BucketData, _ sketch: QuantileSketch, into out: inout [UInt8]) {
        out.reserveCapacity(out.count + headerSize + 24 + 10 + 10
                            + 3 * (sketch.positive.counts.count + sketch.negative.counts.count))
        appendHeader(data, code: sketchCode, to: &out)
        append(sketch.min.bitPattern.littleEndian, to: &out)
        append(sketch.max.bitPattern.littleEndian, to: &out)
        append(sketch.sumSquares.bitPattern.littleEndian, to: &out)
        appendVarint(sketch.zeroCount, to: &out)
        for bins in [sketch.positive, sketch.negative] {
            appendVarint(UInt64(bins.counts.count), to: &out)
            guard !bins.counts.isEmpty else { continue }
            let o = Int64(bins.offset)
            appendVarint(UInt64(bitPattern: (o << 1) ^ (o >> 63)), to: &out)
            for c in bins.counts { appendVarint(c, to: &out) }
        }
    }

    /// Decodes one or more concatenated records into their merge. Returns nil when the bytes are
    /// truncated, empty, mix kinds, or hold a sketch out of bounds.
    public static func decode<C: Collection>(_ bytes: C) -> BucketData? where C.Element == UInt8 {
        let buf = Array(bytes)
        var i = 0
        var result: BucketData?
        while i < buf.count {
            guard buf.count - i >= headerSize else { return nil }
            let code = buf[i]
            let sketched = code == sketchCode
            guard let kind = sketched ? .measurement : MetricKind(code: code) else { return nil }
            let count = Int(UInt32(littleEndian: load(buf, i + 1)))
            let sum = Double(bitPattern: UInt64(littleEndian: load(buf, i + 5)))
            let lastTimestamp = Int64(littleEndian: load(buf, i + 13))
            let lastValue = Double(bitPattern: UInt64(littleEndian: load(buf, i + 21)))
            i += headerSize
            var record = BucketData(kind: kind)
            record.count = count
            record.sum = sum
            record.lastTimestamp = lastTimestamp
            record.lastValue = lastValue
            if sketched {
                guard let sketch = decodeSketch(buf, &i) else { return nil }
                record.sketch = sketch
            } else if kind == .measurement {
                guard (buf.count - i) / 8 >= count else { return nil }
                record.values.reserveCapacity(count)
                for _ in 0..<count {
                    record.values.append(Double(bitPattern: UInt64(littleEndian: load(buf, i))))
                    i += 8
                }
                record.compact()
            }
            if result == nil {
                result = record
            } else {
                guard result!.kind == kind else { return nil }
                result!.merge(record)
            }
        }
        return result
    }

    /// The sketch part of an `M` record at `i` (moved past it), or nil.
    private static func decodeSketch(_ buf: [UInt8], _ i: inout Int) -> QuantileSketch? {
        guard buf.count - i >= 24 else { return nil }
        let min = Double(bitPattern: UInt64(littleEndian: load(buf, i)))
        let max = Double(bitPattern: UInt64(littleEndian: load(buf, i + 8)))
        let sumSquares = Double(bitPattern: UInt64(littleEndian: load(buf, i + 16)))
        i += 24
        guard let zeroCount = readVarint(buf, &i) else { return nil }
        var stores: [QuantileSketch.Bins] = []
        for collapsesHighest in [false, true] {
            guard let n = readVarint(buf, &i), n <= UInt64(QuantileSketch.maxBinsPerSign) else { return nil }
            guard n > 0 else {
                stores.append(QuantileSketch.Bins(collapsesHighest: collapsesHighest))
                continue
            }
            guard let z = readVarint(buf, &i) else { return nil }
            let offset = Int64(bitPattern: z >> 1) ^ -Int64(bitPattern: z & 1)
            let limit = Int64(QuantileSketch.maxIndexMagnitude)
            guard offset >= -limit, offset <= limit - Int64(n) + 1 else { return nil }
            var counts: [UInt64] = []
            counts.reserveCapacity(Int(n))
            for _ in 0..<n {
                guard let c = readVarint(buf, &i) else { return nil }
                counts.append(c)
            }
            stores.append(QuantileSketch.Bins(collapsesHighest: collapsesHighest, offset: Int(offset), counts: counts))
        }
        let sketch = QuantileSketch(zeroCount: zeroCount, min: min, max: max, sumSquares: sumSquares,
                                    positive: stores[0], negative: stores[1])
        // Values there must have finite bounds in order.
        if sketch.count > 0 {
            guard min.isFinite, max.isFinite, min <= max else { return nil }
        }
        return sketch
    }

    @inline(__always)
    private static func appendVarint(_ v: UInt64, to out: inout [UInt8]) {
        var v = v
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    /// An unsigned LEB128 of at most 10 bytes whose value fits in 64 bits.
    @inline(__always)
    private static func readVarint(_ buf: [UInt8], _ i: inout Int) -> UInt64? {
        var v: UInt64 = 0
        var shift: UInt64 = 0
        while i < buf.count {
            let b = buf[i]
            i += 1
            if shift == 63 && b > 1 { return nil }
            v |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return v }
            shift += 7
            if shift > 63 { return nil }
        }
        return nil
    }

    @inline(__always)
    private static func append<T: FixedWidthInteger>(_ v: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: v) { out.append(contentsOf: $0) }
    }

    @inline(__always)
    private static func load<T: FixedWidthInteger>(_ buf: [UInt8], _ offset: Int) -> T {
        buf.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) }
    }
}
