#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Wall-clock readings in the units the core uses. The core itself takes times as arguments; this is
/// the one place that reads the wall clock, for the adapters.
///
/// The process has two clocks. `ContinuousClock` (monotonic: a step of the system clock does not move
/// it) for everything that stays in the process: deadlines, time-outs, pauses, breakers, elapsed
/// times. Wall time, here, only for times that leave the process or meet times other processes
/// wrote: bucket times, due times and lease ends in the store, `Retry-After` dates, the delay figure.
public enum WallClock {
    /// Microseconds since the epoch.
    public static func micros() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1_000
    }

    /// Seconds since the epoch.
    public static func seconds() -> Int64 { micros() / 1_000_000 }

    /// Epoch seconds now, with the fraction (microseconds).
    public static func epochSeconds() -> Double {
        Double(micros()) / 1_000_000
    }

    /// Epoch seconds at `instant`, as far as the wall clock now tells: for a deadline that becomes a
    /// due time in the store.
    public static func epochSeconds(at instant: ContinuousClock.Instant) -> Double {
        epochSeconds() + (instant - ContinuousClock.now).inSeconds
    }
}

extension Duration {
    /// This duration in seconds, as a `Double` (for logs, gauges and arithmetic with settings).
    public var inSeconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
