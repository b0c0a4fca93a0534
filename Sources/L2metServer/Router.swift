import Foundation
import L2metHTTP
import L2metObservability
import L2metStore

/// Sends each request to its endpoint: `/logs`, `/health`, `/sign`, `/metrics`.
struct Router: Sendable {
    let logs: LogsEndpoint?
    let sign: SignEndpoint
    let health: StoreHealth
    /// The receiver's flusher (nil in an outlet-only process): its failures count in `/health`.
    let flusher: Flusher?
    let metrics: MetricsRegistry

    init(logs: LogsEndpoint?, sign: SignEndpoint, store: Store, flusher: Flusher? = nil, metrics: MetricsRegistry) {
        self.logs = logs
        self.sign = sign
        health = StoreHealth(store: store)
        self.flusher = flusher
        self.metrics = metrics
    }

    func handle(_ request: HTTPRequest) -> HTTPResponse {
        switch request.path {
        case "/logs":
            guard let logs else { return .text(404, "this process runs the outlet only") }
            return logs.handle(request)
        case "/health":
            guard request.method == "GET" || request.method == "HEAD" else { return Self.methodNotAllowed("GET, HEAD") }
            let status = health.status(flusher: flusher)
            return .text(status.healthy ? 200 : 503, status.text)
        case "/sign":
            return sign.handle(request)
        case "/metrics":
            guard request.method == "GET" || request.method == "HEAD" else { return Self.methodNotAllowed("GET, HEAD") }
            return HTTPResponse(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4")],
                                body: Array(metrics.render().utf8))
        default:
            return .text(404, "not found")
        }
    }

    /// 405 with the `Allow` header HTTP requires on it (RFC 9110, 15.5.6).
    static func methodNotAllowed(_ allow: String) -> HTTPResponse {
        var response = HTTPResponse.text(405, "method not allowed: use \(allow)")
        response.headers.append(("Allow", allow))
        return response
    }
}

/// Counts HTTP responses by status and request bytes for `/metrics`.
final class RequestMetrics: HTTPServerObserver, Sendable {
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
