import L2metObservability

/// How the outlet claims, queues, posts and retries.
///
/// Delivery: a claimer thread claims due buckets while the queue has room for them (`queueCapacity`
/// buckets and `queueBytes` bytes), builds one destination's requests at a time, and queues them per destination; `workers`
/// sender threads take requests from the destinations in turn (see `DeliveryScheduler`), at most
/// `perDestinationConcurrency` at once for one destination (one while it is failing). Each request is
/// attempted **once per claim**: accepted or refused for good, its buckets are acknowledged (deleted);
/// after a transient failure (connection failure, time-out, 408, 429, 5xx; the sink decides) they go
/// back to the store, due again after an exponential back-off with full jitter
/// (a random wait in 0...min(`backoffCap`, `backoffBase` · 2^(attempts-1)), never shorter than the
/// answer's `Retry-After` capped at `maxRetryAfter`), with their attempt count kept in the store. No
/// bucket is dropped for failing: only once its interval ended more than `retention` seconds ago.
///
/// Breakers: `breakerThreshold` consecutive transient failures of one destination open its breaker
/// for `breakerBase` seconds, doubling to `backoffCap`; while open, its buckets go back to the store
/// untried until the breaker's end, then one probe request decides.
///
/// Lease: claims are leased for `effectiveLease` seconds (default 4 · `requestTimeout` + 30: room for
/// the queue and one request). A request is never started when it could end past its claim's lease
/// less a margin (5 s, or a tenth of shorter leases); its buckets are released (due at once) instead.
public struct OutletConfiguration: Sendable {
    /// Sender threads, each with its own HTTP connection.
    public var workers = 16
    /// Requests to one destination in flight at once (one while it is failing).
    public var perDestinationConcurrency = 2
    /// Buckets claimed and not yet sent that the outlet holds in memory, and about the most memory
    /// they may take (bodies and bucket data; a bucket holds at most about 41 KB): claims stop past either.
    public var queueCapacity = 20_000
    public var queueBytes = 64 << 20
    /// Seconds the claimer waits when no partition had anything due.
    public var pollInterval = 0.5
    /// Where `.librato(url: nil)` destinations go.
    public var libratoURL = "https://metrics-api.librato.com/v1/metrics"
    public var userAgent = "l2met"
    /// Seconds after its interval's end that a bucket is kept for delivery; then it is dropped (counted).
    public var retention: Int64 = 86_400
    /// Seconds to connect.
    public var connectTimeout = 5.0
    /// Seconds for a whole request (connection included).
    public var requestTimeout = 30.0
    /// Buckets per claim.
    public var claimLimit = 500
    /// Claim lease in seconds; nil: 4 · `requestTimeout` + 30.
    public var lease: Int64?
    /// Back-off: first ceiling and largest ceiling, seconds.
    public var backoffBase = 1.0
    public var backoffCap = 120.0
    /// The longest `Retry-After` honoured, seconds.
    public var maxRetryAfter = 300.0
    /// Consecutive transient failures that open a destination's breaker, and its first open interval.
    public var breakerThreshold = 3
    public var breakerBase = 2.0
    /// Seconds `stop()` lets in-flight requests finish before it aborts them.
    public var stopGrace = 5.0
    /// Bytes of a refusal's body written to the log.
    public var maxErrorBodyBytes = 512
    /// Seconds between refreshes of the store backlog figures in `/metrics`.
    public var backlogInterval = 5.0
    /// Where the local sink prints its `at=metric` lines.
    public var localOutput: LogOutput = .standardOutput

    public init() {}

    /// The back-off rules these settings make.
    public var retryPolicy: RetryPolicy {
        RetryPolicy(base: backoffBase, cap: backoffCap, maxRetryAfter: maxRetryAfter)
    }

    /// A fresh breaker with these settings.
    var breaker: CircuitBreaker {
        CircuitBreaker(threshold: breakerThreshold, baseOpen: breakerBase, maxOpen: backoffCap)
    }

    /// The lease claims are taken with.
    public var effectiveLease: Int64 {
        if let lease { return max(1, lease) }
        return Int64((4 * requestTimeout).rounded(.up)) + 30
    }

    /// Seconds before its lease's end after which a claim's buckets are no longer acted on.
    var leaseMargin: Double { min(5, Double(effectiveLease) / 10) }
}
