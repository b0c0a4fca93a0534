#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Wall-clock readings in the units the core uses. The core itself takes times as arguments; this is
/// the one place that reads the clock, for the adapters.
public enum WallClock {
    /// Microseconds since the epoch.
    public static func micros() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1_000
    }

    /// Seconds since the epoch.
    public static func seconds() -> Int64 { micros() / 1_000_000 }
}

extension Duration {
    /// This duration in seconds, as a `Double` (for logs, gauges and arithmetic with settings).
    public var inSeconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
