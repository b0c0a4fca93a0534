import Foundation
import Synchronization

/// Reads a `Retry-After` header value: delay-seconds (`120`) or an HTTP date
/// (`Wed, 21 Oct 2015 07:28:00 GMT`, also the obsolete RFC 850 and asctime forms).
public enum RetryAfter {
    /// Seconds to wait from `now` (epoch seconds); 0 for a date in the past; nil when unreadable.
    public static func seconds(_ value: String, now: Double) -> Double? {
        let v = value.trimmingCharacters(in: .whitespacesAndNewlines)
        if v.isEmpty { return nil }
        if v.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
            return Double(v)
        }
        // The date is wall time, as `now` is: a time another machine wrote down.
        return formats.withLock { formats in
            for format in formats {
                if let date = format.date(from: v) { return max(0, date.timeIntervalSince1970 - now) }
            }
            return nil
        }
    }

    /// DateFormatter is not safe to share between threads unguarded.
    private static let formats = Mutex<[DateFormatter]>([
        "EEE, dd MMM yyyy HH:mm:ss zzz",   // IMF-fixdate
        "EEEE, dd-MMM-yy HH:mm:ss zzz",    // RFC 850
        "EEE MMM d HH:mm:ss yyyy",         // asctime
    ].map { pattern in
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = pattern
        return f
    })
}
