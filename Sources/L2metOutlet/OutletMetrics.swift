import L2metObservability

/// The outlet's series in the server's `/metrics`.
struct OutletMetrics: Sendable {
    let registry: MetricsRegistry
    let gaugesPosted: Counter
    let retries: Counter
    let delay: Gauge
    let storeErrors: Counter

    init(_ registry: MetricsRegistry) {
        self.registry = registry
        gaugesPosted = registry.counter("l2met_outlet_gauges_posted_total", "Gauges accepted by destinations.")
        retries = registry.counter("l2met_outlet_retries_total", "Requests sent again after a retryable failure.")
        delay = registry.gauge("l2met_outlet_delay_seconds",
                               "Seconds from the end of the oldest bucket of the last accepted request to its acceptance.")
        storeErrors = registry.counter("l2met_outlet_store_errors_total", "Store calls (claim, acknowledge) that failed.")
        for reason in DropReason.allCases { _ = dropped(reason) }
    }

    /// Requests by answer: the status code, or `error` / `timeout` when none came.
    func requests(_ status: String) -> Counter {
        registry.counter("l2met_outlet_requests_total", "Requests to destinations, by answer.", labels: [("status", status)])
    }

    func dropped(_ reason: DropReason) -> Counter {
        registry.counter("l2met_outlet_dropped_buckets_total", "Buckets dropped without delivery, by reason.",
                         labels: [("reason", reason.rawValue)])
    }

    /// Why buckets were dropped.
    enum DropReason: String, CaseIterable {
        /// The bucket's drain token no longer resolves to a destination.
        case unresolvable
        /// A destination kind this outlet cannot deliver to yet (OTLP).
        case unsupportedDestination = "unsupported_destination"
        /// The destination refused the request for good (4xx).
        case refused
        /// `maxAttempts` attempts failed.
        case gaveUp = "gave_up"
    }
}
