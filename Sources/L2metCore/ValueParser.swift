#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A parsed `VALUE[UNITS]`.
public struct ParsedValue: Equatable {
    public var value: Double
    /// The units' bytes (a sub-range of the input; empty when there are none).
    public var units: UnsafeRawBufferPointer

    public static func == (a: ParsedValue, b: ParsedValue) -> Bool {
        a.value.bitPattern == b.value.bitPattern && a.units.elementsEqual(b.units)
    }
}

/// Parses a metric value: optional sign, digits, optional `.fraction`, optional exponent
/// (`e`/`E`, optional sign, digits), then UNITS: the ASCII letters (and `%`) right after, at most
/// `maxUnitsLength` of them. Anything else (`12ms3`, `abc`, `` , `1e`+letters is units though:
/// `12events` = 12 `events`) does not parse. The number is exactly what `Double(String)` gives for
/// the same characters: Clinger's fast path (mantissa below 2^53, power of ten within ±22) and
/// `strtod` otherwise. NaN and infinities (overflow) do not parse.
public enum ValueParser {
    public static let maxUnitsLength = 32

    /// Exact powers of ten as doubles.
    @usableFromInline
    static let powersOfTen: [Double] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ]

    public static func parse(_ bytes: UnsafeRawBufferPointer) -> ParsedValue? {
        let n = bytes.count
        var p = 0
        var negative = false
        if p < n, bytes[p] == 0x2D || bytes[p] == 0x2B {
            negative = bytes[p] == 0x2D
            p += 1
        }
        var mantissa: UInt64 = 0
        var significant = 0      // significant digits taken into mantissa
        var dropped = false      // nonzero digits that did not fit in mantissa
        var exponent10 = 0
        var digitCount = 0
        while p < n {
            let d = bytes[p] &- 0x30
            if d > 9 { break }
            if mantissa == 0 && d == 0 {
                // leading zero
            } else if significant < 19 {
                mantissa = mantissa * 10 + UInt64(d)
                significant += 1
            } else {
                exponent10 += 1
                if d != 0 { dropped = true }
            }
            digitCount += 1
            p += 1
        }
        if p < n, bytes[p] == 0x2E {
            p += 1
            while p < n {
                let d = bytes[p] &- 0x30
                if d > 9 { break }
                if mantissa == 0 && d == 0 {
                    exponent10 -= 1
                } else if significant < 19 {
                    mantissa = mantissa * 10 + UInt64(d)
                    significant += 1
                    exponent10 -= 1
                } else if d != 0 {
                    dropped = true
                }
                digitCount += 1
                p += 1
            }
        }
        guard digitCount > 0 else { return nil }
        let numberEnd0 = p
        var numberEnd = p
        if p < n, bytes[p] | 0x20 == 0x65 {  // e E
            var q = p + 1
            var expNegative = false
            if q < n, bytes[q] == 0x2D || bytes[q] == 0x2B {
                expNegative = bytes[q] == 0x2D
                q += 1
            }
            let expStart = q
            var e = 0
            while q < n {
                let d = bytes[q] &- 0x30
                if d > 9 { break }
                if e < 100_000 { e = e * 10 + Int(d) }
                q += 1
            }
            if q > expStart {
                exponent10 += expNegative ? -e : e
                p = q
                numberEnd = q
            }
        }
        _ = numberEnd0
        let unitsStart = p
        while p < n {
            let b = bytes[p]
            let lower = b | 0x20
            if (lower >= 0x61 && lower <= 0x7A) || b == 0x25 { p += 1 } else { break }
        }
        guard p == n, p - unitsStart <= maxUnitsLength else { return nil }
        let units = UnsafeRawBufferPointer(rebasing: bytes[unitsStart..<n])

        var value: Double
        if mantissa == 0 {
            value = 0
        } else if !dropped, mantissa <= (1 << 53), exponent10 >= -22, exponent10 <= 22 {
            value = Double(mantissa)
            if exponent10 < 0 { value /= powersOfTen[-exponent10] } else { value *= powersOfTen[exponent10] }
        } else {
            guard let v = slowParse(UnsafeRawBufferPointer(rebasing: bytes[0..<numberEnd])) else { return nil }
            return v.isFinite ? ParsedValue(value: v, units: units) : nil
        }
        if negative { value = -value }
        return ParsedValue(value: value, units: units)
    }

    /// `strtod` on a NUL-terminated copy (the characters are already checked to be a plain decimal).
    static func slowParse(_ number: UnsafeRawBufferPointer) -> Double? {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: number.count + 1) { buf -> Double? in
            for i in 0..<number.count { buf[i] = CChar(bitPattern: number[i]) }
            buf[number.count] = 0
            guard let base = buf.baseAddress else { return nil }
            var end: UnsafeMutablePointer<CChar>?
            let v = strtod(base, &end)
            guard let end, end - base == number.count else { return nil }
            return v
        }
    }
}
