import L2metCore

/// What a drain may have taken from its next body: nothing while it holds more than its share of
/// the store (`DrainStoreUsage`), else values up to its rate (`DrainRateLimiter`).
///
/// Invariant: a body is given at most what its drain has left, and what it took is spent, so one
/// drain's values per second stay within its limit across every worker of the process.
final class DrainAdmission: Sendable {
    private let rate: DrainRateLimiter
    private let storeUsage: DrainStoreUsage?

    init(rate: DrainRateLimiter, storeUsage: DrainStoreUsage? = nil) {
        self.rate = rate
        self.storeUsage = storeUsage.flatMap { $0.isUnlimited ? nil : $0 }
    }

    /// The allowance for a body of drain `token` received at `nowMicros`.
    func allowance(token: String, nowMicros: Int64) -> ValueAllowance {
        if let storeUsage, storeUsage.isOverLimit(token: token) { return ValueAllowance(values: 0, refusal: .storeLimit) }
        if rate.isUnlimited { return .unlimited }
        return ValueAllowance(values: rate.allowance(token: token, nowMicros: nowMicros), refusal: .rateLimit)
    }

    /// Records the values a body of drain `token` took.
    func took(_ values: Int, token: String, nowMicros: Int64) {
        rate.spend(token: token, count: values, nowMicros: nowMicros)
    }
}
