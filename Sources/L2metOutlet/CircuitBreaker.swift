/// One destination's breaker, as a pure state machine over an injected clock: seconds on any scale
/// that only moves forward (`DeliveryScheduler` counts them on `ContinuousClock` from its start).
///
/// Invariants: while `closed`, every request is admitted; `threshold` consecutive transient failures
/// open it for an interval that doubles with each opening (from `baseOpen` to `maxOpen`) or for the
/// destination's `Retry-After`, whichever is longer; while open nothing is admitted (the caller defers
/// the destination's buckets to `reopensAt`); after that exactly one probe is admitted at a time, and
/// its success closes the breaker while its failure opens it again.
public struct CircuitBreaker: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        case closed
        /// Nothing is sent before `until`.
        case open(until: Double)
        /// One probe is (or may be) on its way; the others wait for its outcome.
        case probing(inFlight: Bool)
    }

    /// What a caller may do with a request to this destination now.
    public enum Admission: Sendable, Equatable {
        /// Send it.
        case send
        /// Send it as the probe: its outcome closes or reopens the breaker.
        case probe
        /// Do not send it; the destination may be tried again at this time.
        case deferUntil(Double)
    }

    public private(set) var state: State = .closed
    /// Transient failures since the last success.
    public private(set) var consecutiveFailures = 0
    /// Openings since the last success (the open interval doubles with each).
    public private(set) var openings = 0
    public let threshold: Int
    public let baseOpen: Double
    public let maxOpen: Double

    public init(threshold: Int = 3, baseOpen: Double = 2, maxOpen: Double = 60) {
        self.threshold = max(1, threshold)
        self.baseOpen = max(0.1, baseOpen)
        self.maxOpen = max(self.baseOpen, maxOpen)
    }

    public var isOpen: Bool {
        if case .closed = state { return false }
        return true
    }

    /// Whether a request may go at `now`; a probe admitted here must be reported with `record`.
    public mutating func admit(now: Double) -> Admission {
        switch state {
        case .closed:
            return .send
        case .open(let until):
            if now < until { return .deferUntil(until) }
            state = .probing(inFlight: true)
            return .probe
        case .probing(let inFlight):
            if inFlight { return .deferUntil(now + baseOpen) }
            state = .probing(inFlight: true)
            return .probe
        }
    }

    /// Reports a request's outcome: `success` for any answer that is not a transient failure;
    /// `retryAfter` (seconds) when the destination asked for a pause.
    public mutating func record(success: Bool, retryAfter: Double? = nil, now: Double) {
        if success {
            state = .closed
            consecutiveFailures = 0
            openings = 0
            return
        }
        consecutiveFailures += 1
        let probing: Bool
        if case .probing = state { probing = true } else { probing = false }
        let pause = retryAfter.map { min(max($0, 0), maxOpen) } ?? 0
        if probing || consecutiveFailures >= threshold || pause > 0 {
            let exponent = min(openings, 30)
            let interval = min(maxOpen, baseOpen * Double(1 << exponent))
            state = .open(until: now + max(interval, pause))
            openings += 1
        }
    }

    /// Forgets a probe that was admitted but never sent (its buckets went back untried).
    public mutating func cancelProbe() {
        if case .probing(true) = state { state = .probing(inFlight: false) }
    }
}
