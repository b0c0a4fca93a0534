import L2metObservability
import L2metStore

/// The outlet's series in the server's `/metrics`.
struct OutletMetrics: Sendable {
    let gaugesPosted: Counter
    /// Requests that failed transiently; their buckets went back to the store with a later due time.
    let retries: Counter
    let delay: Gauge
    let storeErrors: Counter
    /// Requests by answer: the status code, or `error` / `timeout` when none came.
    let requests: LabelledCounters
    /// Buckets put back in the store without a request, because their destination's breaker was open.
    let deferredBuckets: Counter
    /// Buckets given back untried because their lease was too close (or the outlet stopping).
    let releasedBuckets: Counter
    /// Data points a destination accepted a request with but rejected (OTLP partial success).
    let partiallyRejected: Counter
    /// Buckets whose records in the store were merged into one (`Store.compact`).
    let compactedBuckets: Counter
    let queuedBuckets: Gauge
    let openBreakers: Gauge
    /// The store's buckets by state (see `StoreBacklog`), refreshed by the claimer.
    let backlog: [String: Gauge]
    let oldestUndelivered: Gauge
    private let droppedBy: [DropReason: Counter]

    init(_ registry: MetricsRegistry) {
        gaugesPosted = registry.counter("l2met_outlet_gauges_posted_total", "Gauges accepted by destinations.")
        retries = registry.counter("l2met_outlet_retries_total",
                                   "Requests that failed transiently; their buckets were put back in the store for a later attempt.")
        delay = registry.gauge("l2met_outlet_delay_seconds",
                               "Seconds from the end of the oldest bucket of the last accepted request to its acceptance.")
        storeErrors = registry.counter("l2met_outlet_store_errors_total",
                                       "Store calls (claim, acknowledge, reschedule, backlog) that failed.")
        requests = registry.counters("l2met_outlet_requests_total", "Requests to destinations, by answer.", label: "status")
        deferredBuckets = registry.counter("l2met_outlet_deferred_buckets_total",
                                           "Buckets put back in the store untried because their destination's breaker was open.")
        releasedBuckets = registry.counter("l2met_outlet_released_buckets_total",
                                           "Buckets given back to the store untried (lease too close, or stopping).")
        partiallyRejected = registry.counter("l2met_outlet_rejected_points_total",
                                             "Data points rejected inside accepted requests (OTLP partial success).")
        compactedBuckets = registry.counter("l2met_store_compacted_buckets_total",
                                            "Buckets whose records in the store passed 256 KiB and were merged into one.")
        queuedBuckets = registry.gauge("l2met_outlet_queued_buckets", "Claimed buckets waiting in the outlet's queue.")
        openBreakers = registry.gauge("l2met_outlet_open_breakers", "Destinations whose breaker is open or probing.")
        var backlog: [String: Gauge] = [:]
        for state in ["due", "scheduled", "claimed", "retrying", "quarantined"] {
            backlog[state] = registry.gauge("l2met_store_buckets", "Buckets in the store by state: due now, scheduled later "
                                            + "(open intervals, back-off, deferral), claimed, retrying (held after a failure, any state), quarantined "
                                            + "(set aside after their claims kept running out unsettled).",
                                            labels: [("state", state)])
        }
        self.backlog = backlog
        oldestUndelivered = registry.gauge("l2met_store_oldest_undelivered_seconds",
                                           "Seconds since the end of the oldest retrying bucket's interval, or since the earliest due time.")
        var droppedBy: [DropReason: Counter] = [:]
        for reason in DropReason.allCases {
            droppedBy[reason] = registry.counter("l2met_outlet_dropped_buckets_total",
                                                 "Buckets dropped without delivery, by reason.", labels: [("reason", reason.rawValue)])
        }
        self.droppedBy = droppedBy
    }

    func dropped(_ reason: DropReason) -> Counter { droppedBy[reason]! }

    func record(_ b: StoreBacklog, now: Int64) {
        backlog["due"]!.set(b.due)
        backlog["scheduled"]!.set(b.scheduled)
        backlog["claimed"]!.set(b.claimed)
        backlog["retrying"]!.set(b.retrying)
        backlog["quarantined"]!.set(b.quarantined)
        oldestUndelivered.set(Int(b.oldestAge(now: now)))
    }

    /// Why buckets were dropped.
    enum DropReason: String, CaseIterable {
        /// The bucket's drain token no longer resolves to a destination.
        case unresolvable
        /// The destination refused the bucket's gauges for good (a 4xx for a request holding only it).
        case refused
        /// The destination refused the account's credentials (401, 403).
        case unauthorized
        /// The bucket's interval ended more than `retention` seconds ago.
        case expired
    }
}
