import L2metCore

/// What a drain may have taken from its next body: values up to its rate (`DrainRateLimiter`).
///
/// Invariant: a body is given at most what its drain has left, and what it took is spent, so one
/// drain's values per second stay within its limit across every worker of the process.
final class DrainAdmission: Sendable {
    private let rate: DrainRateLimiter

    init(rate: DrainRateLimiter) {
        self.rate = rate
    }

    /// The allowance for a body of drain `token` received at `nowMicros`.
    func allowance(token: String, nowMicros: Int64) -> ValueAllowance {
        if rate.isUnlimited { return .unlimited }
        return ValueAllowance(values: rate.allowance(token: token, nowMicros: nowMicros), refusal: .rateLimit)
    }

    /// Records the values a body of drain `token` took.
    func took(_ values: Int, token: String, nowMicros: Int64) {
        rate.spend(token: token, count: values, nowMicros: nowMicros)
    }
}
