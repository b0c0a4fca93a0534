/// What an answer means for the batch that was sent.
public enum DeliveryVerdict: Equatable, Sendable {
    /// 2xx: done, acknowledge.
    case accepted
    /// 429, 5xx, 408, time-out, connection failure: try again later.
    case retry
    /// Any other answer (4xx): refused for good; log, count, acknowledge (drop).
    case refused
}

/// Exponential back-off with full jitter and `Retry-After` as the shortest wait. There is no bound on
/// attempts: a bucket is retried until it is delivered, refused for good, or past retention.
public struct RetryPolicy: Sendable, Equatable {
    public var base: Double
    public var cap: Double
    public var maxRetryAfter: Double

    public init(base: Double = 1, cap: Double = 120, maxRetryAfter: Double = 300) {
        self.base = base
        self.cap = cap
        self.maxRetryAfter = maxRetryAfter
    }

    /// The verdict on one attempt's result.
    public static func verdict(_ result: HTTPPostResult) -> DeliveryVerdict {
        guard let status = result.status else { return .retry }
        switch status {
        case 200..<300: return .accepted
        case 408, 429, 500...: return .retry
        default: return .refused
        }
    }

    /// The largest random wait after failed attempt `attempt` (1-based): min(cap, base · 2^(attempt-1)).
    public func ceiling(afterAttempt attempt: Int) -> Double {
        let exponent = min(max(attempt - 1, 0), 60)
        return min(cap, base * Double(UInt64(1) << UInt64(exponent)))
    }

    /// The wait after failed attempt `attempt`: a uniform `random` in [0, 1) scaled to the ceiling,
    /// but never less than `retryAfter` (capped at `maxRetryAfter`).
    public func delay(afterAttempt attempt: Int, retryAfter: Double?, random: Double) -> Double {
        let jittered = random * ceiling(afterAttempt: attempt)
        return max(jittered, min(max(retryAfter ?? 0, 0), maxRetryAfter))
    }

    /// The wait after failed attempt `attempt`, with a fresh random draw.
    public func delay(afterAttempt attempt: Int, retryAfter: Double?) -> Double {
        delay(afterAttempt: attempt, retryAfter: retryAfter, random: Double.random(in: 0..<1))
    }
}
