import L2metObservability

/// How the outlet claims, batches, posts and retries.
///
/// Retries: 429, 5xx, 408, time-outs and connection failures are retried with exponential back-off and
/// full jitter (a random wait in 0...min(`backoffCap`, `backoffBase` · 2^(attempt-1))), never shorter
/// than the answer's `Retry-After` (itself capped at `maxRetryAfter`). After `maxAttempts` attempts the
/// batch's buckets are dropped (logged, counted, acknowledged): with the defaults a batch is given up at
/// most 6 · 30 s + 5 · 60 s = 480 s after its first attempt.
///
/// Lease: claims are leased for `effectiveLease` seconds, by default long enough for that whole retry
/// schedule (`maxAttempts · requestTimeout + (maxAttempts-1) · max(backoffCap, maxRetryAfter) + 30`,
/// 510 s with the defaults). Independently, a worker never starts an attempt or a wait that would
/// end past its claim's lease (less a margin of 5 s, or a tenth of shorter leases): it leaves those buckets unacknowledged instead, so
/// they come back when the lease runs out and no two outlets ever post one bucket at the same time.
public struct OutletConfiguration: Sendable {
    /// Worker threads, each with its own HTTP connection.
    public var workers = 2
    /// Seconds a worker waits when no partition had anything due.
    public var pollInterval = 0.5
    /// Where `.librato(url: nil)` destinations go.
    public var libratoURL = "https://metrics-api.librato.com/v1/metrics"
    public var userAgent = "l2met"
    /// Attempts per request before its buckets are dropped.
    public var maxAttempts = 6
    /// Seconds to connect.
    public var connectTimeout = 5.0
    /// Seconds for a whole request (connection included).
    public var requestTimeout = 30.0
    /// Buckets per claim.
    public var claimLimit = 500
    /// Claim lease in seconds; nil: long enough for a full retry schedule (see above).
    public var lease: Int64?
    /// Back-off: first ceiling and largest ceiling, seconds.
    public var backoffBase = 0.5
    public var backoffCap = 30.0
    /// The longest `Retry-After` honoured, seconds.
    public var maxRetryAfter = 60.0
    /// Seconds `stop()` lets in-flight requests finish before it aborts them (their buckets stay in the store).
    public var stopGrace = 5.0
    /// Bytes of a refusal's body written to the log.
    public var maxErrorBodyBytes = 512
    /// Where the local sink prints its `at=metric` lines.
    public var localOutput: LogOutput = .standardOutput

    public init() {}

    /// The retry rules these settings make.
    public var retryPolicy: RetryPolicy {
        RetryPolicy(maxAttempts: max(1, maxAttempts), base: backoffBase, cap: backoffCap, maxRetryAfter: maxRetryAfter)
    }

    /// The lease claims are taken with.
    public var effectiveLease: Int64 {
        if let lease { return max(1, lease) }
        return Int64(retryPolicy.worstCaseSeconds(requestTimeout: requestTimeout).rounded(.up)) + 30
    }
}
