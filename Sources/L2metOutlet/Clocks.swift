import L2metCore

// The outlet's two clocks.
//
// - `ContinuousClock` (monotonic: a step of the system clock does not move it) for everything that
//   stays in this process: deadlines, time-outs, pauses, breakers' open intervals, elapsed times.
// - Wall time, epoch seconds, only for times that leave the process or meet times other processes
//   wrote: due times and lease ends in the store, bucket ends (retention, the delay figure),
//   `Retry-After` dates. A deadline that becomes a due time is converted where it leaves
//   (`WallClock.epochSeconds(at:)`).

extension WallClock {
    /// Epoch seconds now, with the fraction (microseconds).
    static func epochSeconds() -> Double {
        Double(micros()) / 1_000_000
    }

    /// Epoch seconds at `instant`, as far as the wall clock now tells: for a deadline that becomes a due
    /// time in the store.
    static func epochSeconds(at instant: ContinuousClock.Instant) -> Double {
        epochSeconds() + (instant - ContinuousClock.now).inSeconds
    }
}

extension Duration {
    /// The duration in seconds, with the fraction.
    var inSeconds: Double { self / .seconds(1) }
}
