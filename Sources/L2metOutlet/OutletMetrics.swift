import L2metObservability

/// The outlet's series in the server's `/metrics`.
struct OutletMetrics: Sendable {
    let gaugesPosted: Counter
    let retries: Counter
    let delay: Gauge
    let storeErrors: Counter
    /// Requests by answer: the status code, or `error` / `timeout` when none came.
    let requests: LabelledCounters
    private let droppedBy: [DropReason: Counter]

    init(_ registry: MetricsRegistry) {
        gaugesPosted = registry.counter("l2met_outlet_gauges_posted_total", "Gauges accepted by destinations.")
        retries = registry.counter("l2met_outlet_retries_total", "Requests sent again after a retryable failure.")
        delay = registry.gauge("l2met_outlet_delay_seconds",
                               "Seconds from the end of the oldest bucket of the last accepted request to its acceptance.")
        storeErrors = registry.counter("l2met_outlet_store_errors_total", "Store calls (claim, acknowledge) that failed.")
        requests = registry.counters("l2met_outlet_requests_total", "Requests to destinations, by answer.", label: "status")
        var droppedBy: [DropReason: Counter] = [:]
        for reason in DropReason.allCases {
            droppedBy[reason] = registry.counter("l2met_outlet_dropped_buckets_total",
                                                 "Buckets dropped without delivery, by reason.", labels: [("reason", reason.rawValue)])
        }
        self.droppedBy = droppedBy
    }

    func dropped(_ reason: DropReason) -> Counter { droppedBy[reason]! }

    /// Why buckets were dropped.
    enum DropReason: String, CaseIterable {
        /// The bucket's drain token no longer resolves to a destination.
        case unresolvable
        /// The destination refused the request for good (4xx).
        case refused
        /// `maxAttempts` attempts failed.
        case gaveUp = "gave_up"
    }
}
