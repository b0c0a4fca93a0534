/// Turns buckets into Librato gauges and gauges into the JSON body `{"gauges":[…]}`.
///
/// | kind | gauges |
/// |---|---|
/// | measurement NAME | `NAME` with count, sum, min, max, sum_squares; `NAME.median`, `NAME.perc95`, `NAME.perc99` with value |
/// | counter NAME | `NAME` with value = sum |
/// | sample NAME | `NAME` with value = the last value |
///
/// `measure_time` is the bucket start, `source` is left out when empty (and Librato's reserved `all`
/// is written `all_`, see `userSource`), units go in
/// `attributes.display_units_long` when known. A gauge whose numbers are not all finite (a sum of
/// squares that overflowed, say) is left out: Librato cannot take it and JSON cannot say it.
public enum LibratoPayload {
    /// Librato's limit on gauges in one request.
    public static let maxGaugesPerRequest = 300

    /// The gauges of one bucket, per the table above. Empty for a bucket with no values.
    public static func gauges(for key: BucketKey, data: BucketData) -> [LibratoGauge] {
        guard data.count > 0 else { return [] }
        let source: String? = key.source.isEmpty ? nil : key.source
        let units: String? = key.units.isEmpty ? nil : key.units
        let time = key.time
        var out: [LibratoGauge]
        switch key.kind {
        case .measurement:
            guard data.hasValues else { return [] }
            let s = Statistics(data)
            out = [
                LibratoGauge(name: key.name, source: source, measureTime: time, count: s.count, sum: s.sum,
                             min: s.min, max: s.max, sumSquares: s.sumSquares, units: units),
                LibratoGauge(name: key.name + ".median", source: source, measureTime: time, value: s.median, units: units),
                LibratoGauge(name: key.name + ".perc95", source: source, measureTime: time, value: s.perc95, units: units),
                LibratoGauge(name: key.name + ".perc99", source: source, measureTime: time, value: s.perc99, units: units),
            ]
        case .counter:
            out = [LibratoGauge(name: key.name, source: source, measureTime: time, value: data.sum, units: units)]
        case .sample:
            out = [LibratoGauge(name: key.name, source: source, measureTime: time, value: data.lastValue, units: units)]
        }
        if out.allSatisfy(\.isFinite) { return out }
        return out.filter(\.isFinite)
    }

    /// The request body `{"gauges":[…]}` for `gauges`.
    public static func json(_ gauges: ArraySlice<LibratoGauge>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(16 + gauges.count * 128)
        append("{\"gauges\":[", to: &out)
        var first = true
        for g in gauges {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            append(g, to: &out)
        }
        append("]}", to: &out)
        return out
    }

    /// The request body for all of `gauges`.
    public static func json(_ gauges: [LibratoGauge]) -> [UInt8] { json(gauges[...]) }

    /// The longest source Librato takes.
    public static let maxSourceLength = 255

    /// `source` as Librato may take it. Librato reserves the source `all` (its namespace ignores case),
    /// and refuses a whole request for one gauge that uses it, so a source that is `all` in any case,
    /// followed by any number of `_`, gets one more `_`: `all` → `all_`, `ALL_` → `ALL__`. That keeps
    /// different sources different (`all_` itself moves to `all__`). Every other source is unchanged, and
    /// so is one already at `maxSourceLength`, which cannot grow (it is not `all`, so Librato takes it).
    public static func userSource(_ source: String) -> String {
        let bytes = source.utf8
        guard bytes.count >= 3, bytes.count < maxSourceLength else { return source }
        var i = bytes.startIndex
        for letter in "all".utf8 {
            guard bytes[i] | 0x20 == letter else { return source }
            i = bytes.index(after: i)
        }
        guard bytes[i...].allSatisfy({ $0 == UInt8(ascii: "_") }) else { return source }
        return source + "_"
    }

    /// Appends one gauge object.
    static func append(_ g: LibratoGauge, to out: inout [UInt8]) {
        append("{\"name\":", to: &out)
        JSONWriter.appendString(g.name, to: &out)
        if let source = g.source, !source.isEmpty {
            append(",\"source\":", to: &out)
            JSONWriter.appendString(userSource(source), to: &out)
        }
        append(",\"measure_time\":", to: &out)
        JSONWriter.appendInteger(g.measureTime, to: &out)
        if let value = g.value {
            append(",\"value\":", to: &out)
            JSONWriter.appendNumber(value, to: &out)
        } else {
            append(",\"count\":", to: &out)
            JSONWriter.appendInteger(Int64(g.count ?? 0), to: &out)
            append(",\"sum\":", to: &out)
            JSONWriter.appendNumber(g.sum ?? 0, to: &out)
            append(",\"min\":", to: &out)
            JSONWriter.appendNumber(g.min ?? 0, to: &out)
            append(",\"max\":", to: &out)
            JSONWriter.appendNumber(g.max ?? 0, to: &out)
            append(",\"sum_squares\":", to: &out)
            JSONWriter.appendNumber(g.sumSquares ?? 0, to: &out)
        }
        if let units = g.units, !units.isEmpty {
            append(",\"attributes\":{\"display_units_long\":", to: &out)
            JSONWriter.appendString(units, to: &out)
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "}"))
    }

    @inline(__always)
    private static func append(_ s: StaticString, to out: inout [UInt8]) {
        s.withUTF8Buffer { out.append(contentsOf: $0) }
    }
}

/// Writes JSON strings and numbers straight into bytes.
public enum JSONWriter {
    /// Appends `s` as a JSON string: quotes, `\"`, `\\`, and `\n`, `\r`, `\t`, `\b`, `\f` or `\u00XX`
    /// for the other control characters; everything else (UTF-8 included) as it is.
    public static func appendString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { bytes in
            var needsEscape = false
            for b in bytes where b < 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") {
                needsEscape = true
                break
            }
            if !needsEscape {
                out.append(contentsOf: bytes)
                return
            }
            let hex: StaticString = "0123456789abcdef"
            for b in bytes {
                switch b {
                case UInt8(ascii: "\""): out.append(UInt8(ascii: "\\")); out.append(b)
                case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\")); out.append(b)
                case 0x0A: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "n"))
                case 0x0D: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "r"))
                case 0x09: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "t"))
                case 0x08: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "b"))
                case 0x0C: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "f"))
                case 0..<0x20:
                    out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                    hex.withUTF8Buffer { h in
                        out.append(h[Int(b >> 4)])
                        out.append(h[Int(b & 15)])
                    }
                default: out.append(b)
                }
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// Appends an integer in decimal.
    public static func appendInteger(_ v: Int64, to out: inout [UInt8]) {
        if v == 0 { out.append(UInt8(ascii: "0")); return }
        var magnitude = v.magnitude
        if v < 0 { out.append(UInt8(ascii: "-")) }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = 0
        withUnsafeMutableBytes(of: &digits) { d in
            while magnitude > 0 {
                d[n] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                n += 1
            }
            while n > 0 {
                n -= 1
                out.append(d[n])
            }
        }
    }

    /// 2^53: below it every integer is exactly a Double.
    static let exactIntegerLimit = 9_007_199_254_740_992.0

    /// Appends a number: an integer without `.0` when `v` is one and |v| < 2^53, otherwise the
    /// shortest form that reads back as `v` (Swift's `description`, which JSON accepts as it is).
    /// Never NaN or infinity: NaN is written as 0, ±infinity as ±the largest finite Double.
    public static func appendNumber(_ v: Double, to out: inout [UInt8]) {
        guard v.isFinite else {
            if v.isNaN { out.append(UInt8(ascii: "0")); return }
            appendNumber(v < 0 ? -Double.greatestFiniteMagnitude : Double.greatestFiniteMagnitude, to: &out)
            return
        }
        if v.magnitude < exactIntegerLimit, v == v.rounded(.towardZero) {
            appendInteger(Int64(v), to: &out)
            return
        }
        out.append(contentsOf: v.description.utf8)
    }

    /// The number as `appendNumber` writes it, as a String.
    public static func number(_ v: Double) -> String {
        var out: [UInt8] = []
        appendNumber(v, to: &out)
        return String(decoding: out, as: UTF8.self)
    }
}
