import Foundation
import L2metHTTP
import L2metObservability
import L2metStore

/// Sends each request to its endpoint: `/logs`, `/health`, `/sign`, `/metrics`.
struct Router: Sendable {
    let logs: LogsEndpoint?
    let sign: SignEndpoint
    let health: StoreHealth
    let metrics: MetricsRegistry

    init(logs: LogsEndpoint?, sign: SignEndpoint, store: Store, metrics: MetricsRegistry) {
        self.logs = logs
        self.sign = sign
        health = StoreHealth(store: store)
        self.metrics = metrics
    }

    func handle(_ request: HTTPRequest) -> HTTPResponse {
        switch request.path {
        case "/logs":
            guard let logs else { return .text(404, "this process runs the outlet only") }
            return logs.handle(request)
        case "/health":
            guard request.method == "GET" || request.method == "HEAD" else { return .text(405, "method not allowed: use GET") }
            return health.isHealthy() ? .text(200, "ok") : .text(503, "store unreachable")
        case "/sign":
            return sign.handle(request)
        case "/metrics":
            guard request.method == "GET" else { return .text(405, "method not allowed: use GET") }
            return HTTPResponse(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4")],
                                body: Array(metrics.render().utf8))
        default:
            return .text(404, "not found")
        }
    }
}

/// The store's health for `GET /health`, without an HTTP thread ever waiting on a slow store (it
/// would stop serving every drain on its event loop meanwhile: a stalled Redis and a few health
/// checks held drains for 20 s each). A request starts a ping on a thread of its own when the last
/// one ended at least `interval` ago, and waits at most `maxWait` for it; otherwise it answers from
/// the last ping. A ping still running after `maxWait` means the store is not answering.
final class StoreHealth: @unchecked Sendable {
    private let store: Store
    private let interval: Double
    private let maxWait: Double
    private let condition = NSCondition()
    private var probing = false
    private var probeStarted = Date.distantPast
    private var lastFinished = Date.distantPast
    private var lastResult = false

    init(store: Store, interval: Double = 1, maxWait: Double = 0.5) {
        self.store = store
        self.interval = interval
        self.maxWait = maxWait
    }

    /// True when the store answered its last ping, and that ping is not stuck.
    func isHealthy() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if !probing && Date().timeIntervalSince(lastFinished) >= interval {
            probing = true
            probeStarted = Date()
            Thread.detachNewThread { [self] in
                let ok = (try? store.ping()) != nil
                condition.lock()
                lastResult = ok
                lastFinished = Date()
                probing = false
                condition.broadcast()
                condition.unlock()
            }
        }
        let deadline = probeStarted.addingTimeInterval(maxWait)
        while probing && Date() < deadline { _ = condition.wait(until: deadline) }
        return probing ? false : lastResult
    }
}

/// Counts HTTP responses by status and request bytes for `/metrics`.
final class RequestMetrics: HTTPServerObserver, @unchecked Sendable {
    private let requests: LabelledCounters
    private let bytes: Counter

    init(metrics: MetricsRegistry) {
        requests = metrics.counters("l2met_http_requests_total", "HTTP requests by status.", label: "status")
        bytes = metrics.counter("l2met_http_request_bytes_total", "Bytes of HTTP request bodies as received.")
    }

    func requestCompleted(method: String, path: String, status: Int, requestBytes: Int) {
        requests[String(status)].increment()
        bytes.increment(by: requestBytes)
    }
}
