/// The byte form of `BucketData` in a store. Records are self-delimiting, so appending the record of a
/// later flush to what is already stored (Redis `APPEND`) and decoding the concatenation yields the merge.
///
/// One record, little-endian: kind code (1 byte), count (UInt32), sum (Float64), last timestamp (Int64,
/// microseconds), last value (Float64), then for measurements `count` values (Float64 each).
public enum BucketCodec {
    /// Bytes in a record before the values.
    public static let headerSize = 1 + 4 + 8 + 8 + 8

    /// Appends the record of `data` to `out`.
    public static func encode(_ data: BucketData, into out: inout [UInt8]) {
        let valueCount = data.kind == .measurement ? data.values.count : 0
        out.reserveCapacity(out.count + headerSize + 8 * valueCount)
        out.append(data.kind.code)
        append(UInt32(truncatingIfNeeded: data.count).littleEndian, to: &out)
        append(data.sum.bitPattern.littleEndian, to: &out)
        append(data.lastTimestamp.littleEndian, to: &out)
        append(data.lastValue.bitPattern.littleEndian, to: &out)
        if data.kind == .measurement {
            for v in data.values { append(v.bitPattern.littleEndian, to: &out) }
        }
    }

    /// Decodes one or more concatenated records into their merge. Returns nil when the bytes are
    /// truncated, empty, or mix kinds.
    public static func decode<C: Collection>(_ bytes: C) -> BucketData? where C.Element == UInt8 {
        let buf = Array(bytes)
        var i = 0
        var result: BucketData?
        while i < buf.count {
            guard buf.count - i >= headerSize, let kind = MetricKind(code: buf[i]) else { return nil }
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
            if kind == .measurement {
                guard (buf.count - i) / 8 >= count else { return nil }
                record.values.reserveCapacity(count)
                for _ in 0..<count {
                    record.values.append(Double(bitPattern: UInt64(littleEndian: load(buf, i))))
                    i += 8
                }
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

    @inline(__always)
    private static func append<T: FixedWidthInteger>(_ v: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: v) { out.append(contentsOf: $0) }
    }

    @inline(__always)
    private static func load<T: FixedWidthInteger>(_ buf: [UInt8], _ offset: Int) -> T {
        buf.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) }
    }
}
