import Foundation
import L2metCore
import L2metStore
import Logging

/// One outlet thread's work: claim due buckets, group them by destination, send, retry, acknowledge.
/// Owns its HTTP connection and sinks; used by one thread at a time.
final class OutletWorker {
    /// What every worker of one outlet shares.
    struct Shared: @unchecked Sendable {
        let store: Store
        let configuration: OutletConfiguration
        let resolve: @Sendable (String) throws -> Destination
        let metrics: OutletMetrics
        let logger: Logger
        let control: OutletControl
    }

    let index: Int
    private let shared: Shared
    /// Loop workers stop retrying when the outlet stops; the drain worker does not (its deadline bounds it).
    private let stoppable: Bool
    private let librato: LibratoSink
    private let local: LocalSink
    private let otlp: OTLPSink
    private var logger: Logger
    private var claimFailing = false

    private var configuration: OutletConfiguration { shared.configuration }
    private var metrics: OutletMetrics { shared.metrics }

    init(index: Int, shared: Shared, stoppable: Bool) {
        self.index = index
        self.shared = shared
        self.stoppable = stoppable
        let c = shared.configuration
        let control = shared.control
        var abort: (@Sendable () -> Bool)?
        if stoppable { abort = { control.isAborting } }
        let client = CurlHTTPClient(userAgent: c.userAgent, connectTimeout: c.connectTimeout, requestTimeout: c.requestTimeout,
                                    abort: abort)
        librato = LibratoSink(client: client, defaultURL: c.libratoURL)
        local = LocalSink(output: c.localOutput)
        otlp = OTLPSink(client: client, scopeVersion: OTLPSink.version(fromUserAgent: c.userAgent))
        logger = shared.logger
        logger[metadataKey: "worker"] = "\(index)"
    }

    /// The sink for a destination kind.
    func sink(for destination: Destination) -> MetricSink {
        switch destination {
        case .librato: return librato
        case .local: return local
        case .otlp: return otlp
        }
    }

    /// Claims and delivers until the outlet stops. Partitions are visited in turn, each worker starting
    /// at a different one and shifting by one every round, so every partition is served by every worker.
    func run() {
        let partitions = max(1, shared.store.partitions)
        let lease = configuration.effectiveLease
        var round = 0
        while !shared.control.isStopping {
            var claimedAny = false
            for i in 0..<partitions {
                if shared.control.isStopping { break }
                let partition = (index + round + i) % partitions
                let now = WallClock.seconds()
                let claimed: [ClaimedBucket]
                do {
                    claimed = try shared.store.claim(partition: partition, now: now, limit: configuration.claimLimit, lease: lease)
                    if claimFailing {
                        claimFailing = false
                        logger.info("store answers again")
                    }
                } catch {
                    metrics.storeErrors.increment()
                    if !claimFailing { logger.error("claim failed", metadata: ["error": "\(error)"]) }
                    claimFailing = true
                    break
                }
                guard !claimed.isEmpty else { continue }
                claimedAny = true
                // Never act past the lease (less a margin): another outlet may claim the buckets then.
                _ = process(claimed, deadline: Double(now) + Double(lease) - min(5, Double(lease) / 10),
                            leaseEnd: L2metStore.leaseEnd(now: now, lease: lease))
            }
            round &+= 1
            if !claimedAny { _ = shared.control.sleep(configuration.pollInterval) }
        }
    }

    /// Delivers claimed buckets, acting only before `deadline` (epoch seconds). Returns how many buckets
    /// were left unacknowledged (they come back when their lease runs out, or at once when the outlet
    /// stops before any attempt to deliver them and `leaseEnd`, the end of their claim, is given).
    func process(_ claimed: [ClaimedBucket], deadline: Double, leaseEnd: Int64? = nil) -> Int {
        // One group per destination: tokens that decrypt to the same credentials share requests.
        var groups: [(destination: Destination, buckets: [ClaimedBucket])] = []
        var groupOfToken: [String: Int] = [:]
        var unresolvable: [String: (why: String, keys: [BucketKey])] = [:]
        for bucket in claimed {
            let token = bucket.key.token
            if let i = groupOfToken[token] {
                groups[i].buckets.append(bucket)
            } else if unresolvable[token] != nil {
                unresolvable[token]!.keys.append(bucket.key)
            } else {
                do {
                    let destination = try shared.resolve(token)
                    let i = groups.firstIndex { $0.destination == destination } ?? groups.count
                    if i == groups.count { groups.append((destination, [])) }
                    groupOfToken[token] = i
                    groups[i].buckets.append(bucket)
                } catch {
                    let why = scrubbed("\(error)", hiding: [token], limit: configuration.maxErrorBodyBytes)
                    unresolvable[token] = (why, [bucket.key])
                }
            }
        }
        for (why, keys) in unresolvable.values {
            metrics.dropped(.unresolvable).increment(by: keys.count)
            logger.warning("dropping buckets: their drain credentials do not resolve to a destination", metadata: [
                "buckets": "\(keys.count)", "error": "\(why)",
            ])
            acknowledge(keys)
        }
        var deliveries: [Delivery] = []
        for group in groups {
            let sink = sink(for: group.destination)
            for request in sink.requests(for: group.buckets, destination: group.destination) {
                if request.itemCount == 0 {
                    acknowledge(request.keys)  // nothing to send (empty buckets)
                } else {
                    deliveries.append(Delivery(request: request, destination: group.destination, sink: sink))
                }
            }
        }
        return deliver(deliveries, deadline: deadline, leaseEnd: leaseEnd)
    }

    /// One request of a claim on its way: how many attempts it had, and when it may have the next.
    private struct Delivery {
        let request: SinkRequest
        let destination: Destination
        let sink: MetricSink
        var attempts = 0
        var notBefore = 0.0
    }

    /// What one attempt came to.
    private enum AttemptOutcome {
        /// Accepted, refused or given up: acknowledged.
        case finished
        /// Left in the store (no time before the deadline).
        case left
        /// To be tried again, not before this time (epoch seconds).
        case retry(at: Double)
    }

    /// Sends the requests of one claim, each until it is accepted, refused or given up (its buckets
    /// then acknowledged), or until the deadline or a stop leaves no time for another attempt (its
    /// buckets stay in the store). Attempts are interleaved: a request waiting for its retry (back-off,
    /// Retry-After) never holds up the attempts of the others, so one failing destination does not
    /// delay every account claimed with it. Returns how many buckets were left unacknowledged. On a
    /// stop, requests never attempted are given back to the store (with `leaseEnd`): due again for
    /// another outlet at once, not after the lease; attempted ones wait for their lease to end, since
    /// an attempt that got no answer may still be accepted.
    private func deliver(_ deliveries: [Delivery], deadline: Double, leaseEnd: Int64?) -> Int {
        var queue = deliveries
        var left = 0
        while !queue.isEmpty {
            if stoppable && shared.control.isStopping {
                for d in queue {
                    if d.attempts == 0, let leaseEnd {
                        release(d.request, d.destination, leaseEnd: leaseEnd)
                    } else {
                        leave(d.request, d.destination, why: "stopping")
                    }
                    left += d.request.keys.count
                }
                return left
            }
            let now = Date().timeIntervalSince1970
            guard let i = queue.firstIndex(where: { $0.notBefore <= now }) else {
                let wait = queue.map(\.notBefore).min()! - now
                if stoppable { _ = shared.control.sleep(wait) } else { Thread.sleep(forTimeInterval: wait) }
                continue
            }
            var d = queue.remove(at: i)
            switch attempt(&d, deadline: deadline) {
            case .finished: break
            case .left: left += d.request.keys.count
            case let .retry(at):
                d.notBefore = at
                queue.append(d)
            }
        }
        return left
    }

    /// One attempt of `d` (every attempt sends the same bytes).
    private func attempt(_ d: inout Delivery, deadline: Double) -> AttemptOutcome {
        let (request, destination, sink) = (d.request, d.destination, d.sink)
        let remote = sink.isRemote
        d.attempts += 1
        let remaining = deadline - Date().timeIntervalSince1970
        if remote && remaining < 1 {
            leave(request, destination, why: "no time left before the claim's lease or the shutdown deadline")
            return .left
        }
        let result = sink.send(request, timeout: min(configuration.requestTimeout, remaining))
        if remote {
            metrics.requests[result.status.map(String.init) ?? (result.timedOut ? "timeout" : "error")].increment()
        }
        switch RetryPolicy.verdict(result) {
        case .accepted:
            acknowledge(request.keys)
            metrics.gaugesPosted.increment(by: request.itemCount)
            metrics.delay.set(max(0, Date().timeIntervalSince1970 - Double(request.oldestEnd)))
            return .finished
        case .refused:
            metrics.dropped(.refused).increment(by: request.keys.count)
            logger.error("destination refused the gauges; dropping them", metadata: [
                "status": "\(result.status ?? 0)", "destination": "\(destination.loggableName)",
                "buckets": "\(request.keys.count)", "gauges": "\(request.itemCount)",
                "body": "\(errorBody(result, destination))",
            ])
            acknowledge(request.keys)
            return .finished
        case .retry:
            let policy = configuration.retryPolicy
            let why = result.status.map { "status \($0)" } ?? scrubbed(result.failure ?? "no answer", hiding: destination.secrets,
                                                                    limit: configuration.maxErrorBodyBytes)
            if d.attempts >= policy.maxAttempts {
                metrics.dropped(.gaveUp).increment(by: request.keys.count)
                logger.error("giving up on the gauges after the last attempt; dropping them", metadata: [
                    "attempts": "\(d.attempts)", "last": "\(why)", "destination": "\(destination.loggableName)",
                    "buckets": "\(request.keys.count)", "gauges": "\(request.itemCount)",
                    "body": "\(errorBody(result, destination))",
                ])
                acknowledge(request.keys)
                return .finished
            }
            let wait = policy.delay(afterAttempt: d.attempts, retryAfter: result.retryAfter)
            let now = Date().timeIntervalSince1970
            if now + wait + 1 > deadline {
                leave(request, destination, why: "the next attempt would end after the claim's lease or the shutdown deadline")
                return .left
            }
            logger.warning("request failed; retrying", metadata: [
                "attempt": "\(d.attempts)", "reason": "\(why)", "wait": "\(String(format: "%.2f", wait))",
                "destination": "\(destination.loggableName)", "gauges": "\(request.itemCount)",
            ])
            metrics.retries.increment()
            return .retry(at: now + wait)
        }
    }

    /// The refusal's body for a log line: bounded, secrets taken out.
    private func errorBody(_ result: HTTPPostResult, _ destination: Destination) -> String {
        scrubbed(String(decoding: result.body, as: UTF8.self), hiding: destination.secrets, limit: configuration.maxErrorBodyBytes)
    }

    private func leave(_ request: SinkRequest, _ destination: Destination, why: String) {
        logger.warning("leaving buckets in the store for a later claim", metadata: [
            "reason": "\(why)", "destination": "\(destination.loggableName)", "buckets": "\(request.keys.count)",
        ])
    }

    /// Gives never-attempted buckets back to the store, due at once; when the store fails they stay
    /// claimed and come back when their lease runs out.
    private func release(_ request: SinkRequest, _ destination: Destination, leaseEnd: Int64) {
        do {
            try shared.store.release(request.keys, leaseEnd: leaseEnd, now: WallClock.seconds())
            logger.info("stopping: buckets given back to the store for another outlet", metadata: [
                "destination": "\(destination.loggableName)", "buckets": "\(request.keys.count)",
            ])
        } catch {
            metrics.storeErrors.increment()
            leave(request, destination, why: "stopping (giving them back failed: \(error))")
        }
    }

    /// Deletes delivered (or dropped) buckets; a failing store is tried three times, then the buckets
    /// come back when their lease runs out (and are posted again: at least once).
    func acknowledge(_ keys: [BucketKey]) {
        guard !keys.isEmpty else { return }
        for attempt in 1...3 {
            do {
                try shared.store.acknowledge(keys)
                return
            } catch {
                metrics.storeErrors.increment()
                logger.error("acknowledge failed", metadata: ["error": "\(error)", "attempt": "\(attempt)", "buckets": "\(keys.count)"])
                if attempt < 3 { Thread.sleep(forTimeInterval: 0.2 * Double(attempt)) }
            }
        }
    }
}
