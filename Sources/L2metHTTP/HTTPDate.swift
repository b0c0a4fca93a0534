import Glibc

/// The IMF-fixdate for the `Date` header, formatted at most once a second.
struct HTTPDate {
    private var second: time_t = -1
    private var text = [UInt8](repeating: 0, count: 29)

    /// `Sun, 06 Nov 1994 08:49:37 GMT` for now.
    mutating func current() -> [UInt8] {
        var now = time(nil)
        if now == second { return text }
        second = now
        var tm = tm()
        gmtime_r(&now, &tm)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let s = "\(days[Int(tm.tm_wday) % 7]), \(two(tm.tm_mday)) \(months[Int(tm.tm_mon) % 12]) \(tm.tm_year + 1900) "
            + "\(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec)) GMT"
        text = Array(s.utf8)
        return text
    }
}

/// Monotonic nanoseconds.
@inline(__always)
func monotonicNanos() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}
