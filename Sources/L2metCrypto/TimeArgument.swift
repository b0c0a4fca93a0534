import L2metCore

/// Reads a point in time given on the command line (`l2met verify --now`): RFC 3339
/// (`1985-10-26T01:20:00-07:00`, `2026-01-02T03:04:05.123Z`; `t`, `z` or a space separator also
/// accepted) or epoch seconds (`499162800`, `-1`, `1700000000.5`). Fractions of a second are dropped
/// (floor).
public enum TimeArgument {
    /// Epoch seconds, or nil when `text` is neither form (or out of range).
    public static func epochSeconds(from text: String) -> Int64? {
        let b = Array(text.utf8)
        guard !b.isEmpty else { return nil }
        return epoch(b) ?? rfc3339(b)
    }

    private static func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }

    private static func epoch(_ b: [UInt8]) -> Int64? {
        var i = 0
        let negative = b[0] == UInt8(ascii: "-")
        if negative || b[0] == UInt8(ascii: "+") { i = 1 }
        let start = i
        var value: Int64 = 0
        while i < b.count, isDigit(b[i]) {
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(Int64(b[i] - 48))
            if o1 || o2 { return nil }
            value = s
            i += 1
        }
        guard i > start else { return nil }
        var fraction = false
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            let fracStart = i
            while i < b.count, isDigit(b[i]) {
                if b[i] != 48 { fraction = true }
                i += 1
            }
            guard i > fracStart else { return nil }
        }
        guard i == b.count else { return nil }
        if negative { return fraction ? -value - 1 : -value }
        return value
    }

    /// RFC 3339 through the core's parser, floored to whole seconds.
    private static func rfc3339(_ b: [UInt8]) -> Int64? {
        guard let micros = b.withUnsafeBytes({ RFC3339.parseMicros($0) }) else { return nil }
        return micros >= 0 || micros % 1_000_000 == 0 ? micros / 1_000_000 : micros / 1_000_000 - 1
    }
}
