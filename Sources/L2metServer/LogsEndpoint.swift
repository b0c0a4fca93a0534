import L2metCore
import L2metCrypto
import L2metHTTP
import L2metObservability
import L2metStore

/// `POST /logs`, the drain: credentials, query options, then the body through frames, conventions
/// and the aggregation register.
///
/// A body with a `Logplex-Frame-Id` is taken at most once per drain within the ledger's window (a
/// body logplex sends again is answered 200 and not counted); when the ledger cannot be reached the
/// body is taken unchecked. log-shuttle's `Logplex-Drop-Count`/`Logplex-Lost-Count` are counted
/// with the body (`DrainLoss`).
final class LogsEndpoint: Sendable {
    private let authenticator: DrainAuthenticator
    private let registers: RegisterPool
    private let admission: DrainAdmission
    private let flusher: Flusher
    /// nil: no duplicate check (`--frame-id-window 0`).
    private let frameLedger: FrameLedger?

    private let frames: Counter
    private let brokenFrames: Counter
    private let lines: Counter
    private let measurements: Counter
    private let bodyBytes: Counter
    private let dropped: [DropReason: Counter]
    private let refused: Counter
    private let refusedFailing: Counter
    /// Values dropped past each of a drain's limits, by drain.
    private let limited: [DropReason: LabelledCounters]
    private let duplicates: Counter
    private let framesInProgress: Counter
    private let unchecked: Counter
    private let ledgerErrors: (begin: Counter, finish: Counter, release: Counter)

    init(authenticator: DrainAuthenticator, registers: RegisterPool, admission: DrainAdmission, flusher: Flusher,
         frameLedger: FrameLedger?, metrics: MetricsRegistry) {
        self.authenticator = authenticator
        self.registers = registers
        self.admission = admission
        self.flusher = flusher
        self.frameLedger = frameLedger
        duplicates = metrics.counter("l2met_receiver_duplicate_bodies_total",
                                     "Drain bodies answered 200 and not counted again: their Logplex-Frame-Id was already taken.")
        framesInProgress = metrics.counter("l2met_receiver_frame_in_progress_total",
                                           "Drain bodies answered 503 because another receiver was taking the same Logplex-Frame-Id.")
        unchecked = metrics.counter("l2met_receiver_unchecked_bodies_total",
                                    "Drain bodies with a Logplex-Frame-Id taken without the duplicate check (the store could not be reached).")
        let storeErrors = { (op: String) in
            metrics.counter("l2met_store_errors_total", "Store calls that failed.", labels: [("op", op)])
        }
        ledgerErrors = (storeErrors("frame_begin"), storeErrors("frame_finish"), storeErrors("frame_release"))
        frames = metrics.counter("l2met_frames_total", "Syslog frames read from drain bodies.")
        brokenFrames = metrics.counter("l2met_broken_frames_total", "Frames that could not be read and were skipped.")
        lines = metrics.counter("l2met_lines_total", "Log lines read from drain bodies.")
        measurements = metrics.counter("l2met_measurements_total", "Measurements, counters and samples taken into buckets.")
        bodyBytes = metrics.counter("l2met_drain_body_bytes_total", "Decoded bytes of accepted drain bodies.")
        refused = metrics.counter("l2met_overload_refusals_total", "Drains answered 503 because too much is held in memory.")
        refusedFailing = metrics.counter("l2met_flush_failure_refusals_total",
                                         "Drains answered 503 because the store has refused the receiver's flushes for longer than --flush-failure-limit.")
        let limitHelp: [DropReason: String] = [
            .seriesLimit: "Measurements dropped past a drain's series limit, by drain (DrainID: a hash of its token).",
            .rateLimit: "Values dropped past a drain's values per second, by drain (DrainID: a hash of its token).",
            .storeLimit: "Values dropped while a drain held more than its store bytes, by drain (DrainID: a hash of its token).",
        ]
        limited = Dictionary(uniqueKeysWithValues: DropReason.drainLimits.map { reason in
            (reason, metrics.counters("l2met_drain_\(reason.rawValue.replacingOccurrences(of: "_limit", with: ""))_limited_total",
                                      limitHelp[reason]!, label: "drain"))
        })
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
        if let failure = flusher.failure {
            // Logplex keeps the data meanwhile, instead of this process holding it toward its memory bound.
            refusedFailing.increment()
            return HTTPResponse(status: 503, headers: [("Retry-After", "10"), ("Content-Type", "text/plain")],
                                body: Array("the store has refused this receiver's writes for \(Int(failure.seconds)) s; retry later\n".utf8))
        }
        let headers = DrainHeaders(request)
        guard let frameLedger, let frameID = headers.frameID, !frameID.isEmpty else {
            return take(request, options: options, loss: headers.loss, now: now)
        }
        let frame = FrameKey(token: credentials.token, frameID: frameID)
        do {
            switch try frameLedger.begin(frame) {
            case .started:
                break
            case .done:
                duplicates.increment()
                return HTTPResponse(status: 200)
            case .pending:
                framesInProgress.increment()
                return HTTPResponse(status: 503, headers: [("Retry-After", "1"), ("Content-Type", "text/plain")],
                                    body: Array("this frame is being taken by another request; retry\n".utf8))
            }
        } catch {
            // At least once beats loss: take it unchecked.
            ledgerErrors.begin.increment()
            unchecked.increment()
            return take(request, options: options, loss: headers.loss, now: now)
        }
        let response = take(request, options: options, loss: headers.loss, now: now)
        do {
            if response.status == 200 { try frameLedger.finish(frame) } else { try frameLedger.release(frame) }
        } catch {
            // Not finished: a re-send is refused (503) until the pending marker's lease ends, then taken
            // again (counted twice if the drain missed this answer). Not released: refused until then,
            // then taken. Nothing is lost either way.
            (response.status == 200 ? ledgerErrors.finish : ledgerErrors.release).increment()
        }
        return response
    }

    /// Takes the body (and the drain's loss report) into a register and answers for it.
    private func take(_ request: HTTPRequest, options: DrainOptions, loss: DrainLoss, now: Int64) -> HTTPResponse {
        let allowance = admission.allowance(token: options.token, nowMicros: now)
        guard let counts = registers.ingest(request.body, options: options, loss: loss, nowMicros: now,
                                            allowance: allowance) else {
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
        admission.took(counts.measurements, token: options.token, nowMicros: now)
        for reason in DropReason.drainLimits {
            let overLimit = counts.count(of: reason)
            if overLimit > 0 {
                // Per drain, named by a hash of its token (which stays secret), only for drains that hit it.
                limited[reason]![DrainID.of(token: options.token)].increment(by: overLimit)
            }
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
