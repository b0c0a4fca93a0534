/// RFC3339 timestamps (`YYYY-MM-DDTHH:MM:SS[.fraction](Z|±hh:mm)`) to microseconds since the epoch,
/// without Foundation. Fractions of any length are accepted; digits past the microsecond are dropped.
public enum RFC3339 {
    /// Microseconds since the epoch, or nil when `bytes` is not an RFC3339 timestamp.
    public static func parseMicros(_ bytes: UnsafeRawBufferPointer) -> Int64? {
        let n = bytes.count
        guard n >= 20 else { return nil }
        @inline(__always) func digits(_ at: Int, _ count: Int) -> Int? {
            var v = 0
            for i in at..<(at + count) {
                let d = bytes[i] &- 0x30
                if d > 9 { return nil }
                v = v * 10 + Int(d)
            }
            return v
        }
        guard let year = digits(0, 4), bytes[4] == 0x2D, let month = digits(5, 2), bytes[7] == 0x2D,
              let day = digits(8, 2), bytes[10] == 0x54 || bytes[10] == 0x74 || bytes[10] == 0x20,
              let hour = digits(11, 2), bytes[13] == 0x3A, let minute = digits(14, 2), bytes[16] == 0x3A,
              let second = digits(17, 2)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysInMonth(year: year, month: month),
              hour <= 23, minute <= 59, second <= 60
        else { return nil }
        var p = 19
        var fraction: Int64 = 0
        if bytes[p] == 0x2E {
            p += 1
            var count = 0
            while p < n, bytes[p] &- 0x30 <= 9 {
                if count < 6 { fraction = fraction * 10 + Int64(bytes[p] &- 0x30) }
                count += 1
                p += 1
            }
            guard count > 0 else { return nil }
            for _ in count..<max(count, 6) { fraction *= 10 }
        }
        guard p < n else { return nil }
        var offsetSeconds = 0
        switch bytes[p] {
        case 0x5A, 0x7A:  // Z z
            p += 1
        case 0x2B, 0x2D:  // + -
            guard n - p >= 6, let oh = digits(p + 1, 2), bytes[p + 3] == 0x3A, let om = digits(p + 4, 2),
                  oh <= 23, om <= 59
            else { return nil }
            offsetSeconds = (oh * 3600 + om * 60) * (bytes[p] == 0x2D ? -1 : 1)
            p += 6
        default:
            return nil
        }
        guard p == n else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second - offsetSeconds)
        return seconds * 1_000_000 + fraction
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    public static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = month > 2 ? month - 3 : month + 9
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }
}
