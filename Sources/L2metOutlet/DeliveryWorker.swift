import Foundation
import L2metCore
import L2metStore
import Logging

/// A sender thread's work: take the next request from the scheduler, send it once, and settle its
/// buckets: acknowledged when accepted or refused for good, split when a request of several buckets
/// is refused (to find the refused ones), put back in the store with a later due time when the
/// failure is transient. It never sleeps holding buckets. Owns its HTTP connection and sinks; used by
/// one thread at a time.
final class DeliveryWorker {
    private let context: OutletContext
    private let sinks: SinkSet
    private var logger: Logger

    private var configuration: OutletConfiguration { context.configuration }
    private var metrics: OutletMetrics { context.metrics }

    /// - Parameter stoppable: requests are aborted when the outlet aborts (not for the final drain).
    init(index: Int, context: OutletContext, stoppable: Bool) {
        self.context = context
        let control = context.control
        var abort: (@Sendable () -> Bool)?
        if stoppable { abort = { control.isAborting } }
        sinks = SinkSet(context.configuration, abort: abort)
        logger = context.logger
        logger[metadataKey: "worker"] = "\(index)"
    }

    /// Sends until the outlet stops.
    func run() {
        let control = context.control
        while true {
            switch context.scheduler.next(stopping: { control.isStopping }) {
            case .stop:
                return
            case let .deferred(deliveries, until):
                putBack(deliveries, dueAt: WallClock.epochSeconds(at: until), because: .deferred)
                metrics.deferredBuckets.increment(by: deliveries.reduce(0) { $0 + $1.buckets.count })
            case let .send(delivery, probe):
                let outcome = send(delivery)
                let (wasOpen, isOpen) = context.scheduler.finished(delivery, probe: probe, outcome: outcome.forBreaker)
                if !wasOpen && isOpen {
                    logger.warning("destination failing; holding its buckets in the store until a probe succeeds", metadata: [
                        "destination": "\(delivery.destination.loggableName)",
                    ])
                } else if wasOpen && !isOpen {
                    logger.info("destination answers again; delivering its backlog", metadata: [
                        "destination": "\(delivery.destination.loggableName)",
                    ])
                }
                if case .split(let parts) = outcome {
                    context.scheduler.enqueue(parts, first: true)
                }
                if case .unauthorized = outcome {
                    let rest = context.scheduler.removeAll(of: delivery.id)
                    dropUnauthorized(rest, status: nil)
                }
                metrics.queuedBuckets.set(context.scheduler.queuedBuckets)
                metrics.openBreakers.set(context.scheduler.openBreakers)
            }
        }
    }

    /// What one attempt came to.
    enum Outcome {
        /// Accepted, or refused for good: acknowledged.
        case finished
        /// Refused with other buckets that may be fine: send these smaller requests instead.
        case split([Delivery])
        /// The account's credentials were refused: its other queued requests are dropped too.
        case unauthorized
        /// A transient failure: the buckets went back to the store (`retryAfter`: the answer's pause).
        case failed(retryAfter: Double?, wait: Double)
        /// Not attempted: the claim's lease was too close.
        case notSent

        var forBreaker: DeliveryScheduler.Outcome {
            switch self {
            case .finished, .split, .unauthorized: return .answered
            case .failed(let retryAfter, _): return .failed(retryAfter: retryAfter)
            case .notSent: return .notSent
            }
        }
    }

    /// Sends `d` once and settles its buckets. With `reschedule` false (the final drain), a transient
    /// failure leaves the buckets claimed for the caller to try again. The request must end before
    /// `deadline` when one is given, else before its claim's lease (less the margin).
    func send(_ d: Delivery, reschedule: Bool = true, deadline: ContinuousClock.Instant? = nil, attempts: Int? = nil) -> Outcome {
        let sink = sinks.sink(for: d.destination)
        let request = d.request
        var timeout = configuration.requestTimeout
        if sink.isRemote {
            let remaining: Double
            if let deadline {
                remaining = (deadline - ContinuousClock.now).inSeconds
            } else {
                // The lease's end is wall time: the store (and every other outlet) compares it with theirs.
                remaining = Double(d.leaseEnd) - configuration.leaseMargin - WallClock.epochSeconds()
            }
            if remaining < 1 {
                if reschedule { putBack([d], dueAt: WallClock.epochSeconds(), because: .released) }
                metrics.releasedBuckets.increment(by: d.buckets.count)
                return .notSent
            }
            timeout = min(timeout, remaining)
        }
        let result = sink.send(request, timeout: timeout)
        if sink.isRemote {
            metrics.requests[result.status.map(String.init) ?? (result.timedOut ? "timeout" : "error")].increment()
        }
        switch sink.verdict(result) {
        case .accepted:
            acknowledge(request.keys, context: context, logger: logger)
            metrics.gaugesPosted.increment(by: request.itemCount)
            // From the end of the bucket's interval (wall time) to now.
            metrics.delay.set(max(0, WallClock.epochSeconds() - Double(request.oldestEnd)))
            if let partial = sink.partialRejection(result) {
                metrics.partiallyRejected.increment(by: partial.rejectedItems)
                logger.warning(partial.rejectedItems > 0 ? "destination accepted the request but rejected part of it"
                                                         : "destination accepted the request with a warning", metadata: [
                    "destination": "\(d.destination.loggableName)", "rejected": "\(partial.rejectedItems)",
                    "sent": "\(request.itemCount)",
                    "message": "\(scrubbed(partial.message, hiding: d.destination.secrets, limit: configuration.maxErrorBodyBytes))",
                ])
            }
            return .finished
        case .refused:
            let status = result.status ?? 0
            if status == 401 || status == 403 {
                dropUnauthorized([d], status: status, body: errorBody(result, d.destination))
                return .unauthorized
            }
            if d.buckets.count > 1 {
                let half = d.buckets.count / 2
                var drop: [BucketKey] = []
                let parts = [Array(d.buckets[..<half]), Array(d.buckets[half...])].flatMap {
                    sinks.deliveries(for: $0, destination: d.destination, leaseEnd: d.leaseEnd, drop: &drop)
                }
                acknowledge(drop, context: context, logger: logger)
                logger.warning("destination refused a request; splitting it to find the refused gauges", metadata: [
                    "status": "\(status)", "destination": "\(d.destination.loggableName)",
                    "buckets": "\(d.buckets.count)", "gauges": "\(request.itemCount)",
                    "body": "\(errorBody(result, d.destination))",
                ])
                return .split(parts)
            }
            metrics.dropped(.refused).increment(by: request.keys.count)
            logger.error("destination refused the gauges; dropping them", metadata: [
                "status": "\(status)", "destination": "\(d.destination.loggableName)",
                "buckets": "\(request.keys.count)", "gauges": "\(request.itemCount)",
                "series": "\(d.buckets.first.map { "\($0.key.name) source=\($0.key.source)" } ?? "")",
                "body": "\(errorBody(result, d.destination))",
            ])
            acknowledge(request.keys, context: context, logger: logger)
            return .finished
        case .retry:
            let attempts = (attempts ?? d.attempts) + 1
            let wait = configuration.retryPolicy.delay(afterAttempt: attempts, retryAfter: result.retryAfter)
            metrics.retries.increment()
            logger.warning("request failed; its buckets wait in the store for a later attempt", metadata: [
                "reason": "\(reason(result, d.destination))", "attempt": "\(attempts)",
                "wait": "\(String(format: "%.1f", wait))", "destination": "\(d.destination.loggableName)",
                "buckets": "\(d.buckets.count)", "gauges": "\(request.itemCount)",
            ])
            if reschedule { putBack([d], dueAt: WallClock.epochSeconds() + wait, because: .failed) }
            return .failed(retryAfter: result.retryAfter, wait: wait)
        }
    }

    /// Sends `deliveries` until each is settled or `deadline` leaves no time for another attempt,
    /// retrying in place: for the final drain of the in-memory store, which nothing outlives. Attempts
    /// are interleaved, so a request waiting for its retry never holds up the others. Returns the
    /// buckets left undelivered.
    func deliverNow(_ deliveries: [Delivery], deadline: ContinuousClock.Instant) -> Int {
        let clock = ContinuousClock()
        var queue = deliveries.map { (delivery: $0, notBefore: clock.now, attempts: $0.attempts) }
        var left = 0
        while !queue.isEmpty {
            let now = clock.now
            guard let i = queue.firstIndex(where: { $0.notBefore <= now }) else {
                Thread.sleep(forTimeInterval: max(0, (queue.map(\.notBefore).min()! - now).inSeconds))
                continue
            }
            let current = queue.remove(at: i)
            switch send(current.delivery, reschedule: false, deadline: deadline, attempts: current.attempts) {
            case .finished, .unauthorized: break
            case .split(let parts): queue += parts.map { ($0, clock.now, current.attempts) }
            case .notSent: left += current.delivery.buckets.count
            case .failed(_, let wait):
                let retryAt = clock.now + .seconds(wait)
                if retryAt + .seconds(1) > deadline {
                    left += current.delivery.buckets.count
                } else {
                    queue.append((current.delivery, retryAt, current.attempts + 1))
                }
            }
        }
        return left
    }

    /// Drops an account's buckets after its credentials were refused.
    private func dropUnauthorized(_ deliveries: [Delivery], status: Int?, body: String = "") {
        guard let first = deliveries.first else { return }
        let keys = deliveries.flatMap(\.request.keys)
        metrics.dropped(.unauthorized).increment(by: keys.count)
        var metadata: Logger.Metadata = ["destination": "\(first.destination.loggableName)", "buckets": "\(keys.count)"]
        if let status { metadata["status"] = "\(status)" }
        if !body.isEmpty { metadata["body"] = "\(body)" }
        logger.error("destination refused the account's credentials; dropping its buckets", metadata: metadata)
        acknowledge(keys, context: context, logger: logger)
    }

    /// Puts deliveries' buckets back in the store (see the free function).
    func putBack(_ deliveries: [Delivery], dueAt: Double, because reason: RescheduleReason) {
        L2metOutlet.putBack(deliveries, dueAt: dueAt, because: reason, context: context, logger: logger)
    }

    /// Why a request failed, for a log line: the status, or what kind of transport failure (a fixed
    /// phrase, so it never needs withholding), then libcurl's own words with the secrets taken out.
    private func reason(_ result: HTTPPostResult, _ destination: Destination) -> String {
        if let status = result.status { return "status \(status)" }
        let kind = result.failureKind ?? (result.timedOut ? "timed out" : "no answer")
        guard let failure = result.failure else { return kind }
        return kind + ": " + scrubbed(failure, hiding: destination.secrets, limit: configuration.maxErrorBodyBytes)
    }

    /// The refusal's body for a log line: bounded, secrets taken out.
    private func errorBody(_ result: HTTPPostResult, _ destination: Destination) -> String {
        scrubbed(String(decoding: result.body, as: UTF8.self), hiding: destination.secrets, limit: configuration.maxErrorBodyBytes)
    }
}
