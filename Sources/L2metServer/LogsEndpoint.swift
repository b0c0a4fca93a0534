import L2metCore
import L2metCrypto
import L2metHTTP
import L2metObservability

/// `POST /logs`, the drain: credentials, query options, then the body through frames, conventions
/// and the aggregation register.
final class LogsEndpoint: @unchecked Sendable {
    private let authenticator: DrainAuthenticator
    private let registers: RegisterPool
    private let flusher: Flusher

    private let frames: Counter
    private let brokenFrames: Counter
    private let lines: Counter
    private let measurements: Counter
    private let bodyBytes: Counter
    private let dropped: [DropReason: Counter]
    private let refused: Counter

    init(authenticator: DrainAuthenticator, registers: RegisterPool, flusher: Flusher, metrics: MetricsRegistry) {
        self.authenticator = authenticator
        self.registers = registers
        self.flusher = flusher
        frames = metrics.counter("l2met_frames_total", "Syslog frames read from drain bodies.")
        brokenFrames = metrics.counter("l2met_broken_frames_total", "Frames that could not be read and were skipped.")
        lines = metrics.counter("l2met_lines_total", "Log lines read from drain bodies.")
        measurements = metrics.counter("l2met_measurements_total", "Measurements, counters and samples taken into buckets.")
        bodyBytes = metrics.counter("l2met_drain_body_bytes_total", "Decoded bytes of accepted drain bodies.")
        refused = metrics.counter("l2met_overload_refusals_total", "Drains answered 503 because too much is held in memory.")
        var dropped: [DropReason: Counter] = [:]
        for reason in DropReason.allCases {
            dropped[reason] = metrics.counter("l2met_dropped_total", "Pairs or lines dropped, by reason.",
                                              labels: [("reason", "\(reason)")])
        }
        self.dropped = dropped
    }

    func handle(_ request: HTTPRequest) -> HTTPResponse {
        guard request.method == "POST" else {
            return HTTPResponse(status: 405, headers: [("Allow", "POST"), ("Content-Type", "text/plain")],
                                body: Array("method not allowed: use POST\n".utf8))
        }
        let now = WallClock.micros()
        let credentials: DrainCredentials
        switch authenticator.authenticate(authorization: request.header("authorization"), now: now / 1_000_000) {
        case .success(let c): credentials = c
        case .failure(let error): return .text(401, "unauthorized: \(error)")
        }
        var options = DrainOptions(token: credentials.token)
        if let raw = request.queryValue("resolution") {
            guard let r = Int32(raw), (1...3600).contains(r) else {
                return .text(400, "resolution must be a whole number of seconds from 1 to 3600")
            }
            options.resolution = r
        }
        if let p = request.queryValue("prefix"), !p.isEmpty { options.prefix = p }
        if let sp = request.queryValue("source-prefix"), !sp.isEmpty { options.sourcePrefix = sp }
        if flusher.isOverloaded {
            refused.increment()
            return HTTPResponse(status: 503, headers: [("Retry-After", "5"), ("Content-Type", "text/plain")],
                                body: Array("the store is not keeping up; retry later\n".utf8))
        }
        guard let counts = registers.ingest(request.body, options: options, nowMicros: now) else {
            // Shutting down: the last flush has taken (or is taking) the registers; a 200 now would lose this body.
            return HTTPResponse(status: 503, headers: [("Retry-After", "1"), ("Content-Type", "text/plain")],
                                body: Array("shutting down; retry\n".utf8))
        }
        frames.increment(by: counts.frames)
        brokenFrames.increment(by: counts.brokenFrames)
        lines.increment(by: counts.lines)
        measurements.increment(by: counts.measurements)
        bodyBytes.increment(by: request.body.count)
        for reason in DropReason.allCases {
            dropped[reason]!.increment(by: counts.count(of: reason))
        }
        if counts.frames == 0 && counts.brokenFrames > 0 {
            return .text(400, "no frame could be read: expected octet-counted syslog frames (LEN SP <PRI>1 …)")
        }
        // Frames, but not one with an RFC5424 header: nothing in the body can become a metric.
        if counts.lines == 0 && counts.frames > 0 {
            return .text(400, "no frame has an RFC5424 header: expected <PRI>1 TIMESTAMP HOST APP PROCID MSGID TEXT")
        }
        return HTTPResponse(status: 200)
    }
}
