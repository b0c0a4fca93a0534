import Foundation
import L2metCore
import L2metObservability
import L2metStore
import Logging
import Synchronization

/// The outlet: a claimer thread that claims due buckets and queues their requests per destination,
/// and sender threads that deliver them (fairly across destinations, breakers per destination) and
/// settle them in the store: acknowledged (deleted) once accepted or refused for good, put back with
/// a later due time after a transient failure, dropped only past retention. See `OutletConfiguration`.
public final class Outlet: Sendable {
    private let context: OutletContext
    private let running = DispatchGroup()
    private let started = Atomic<Bool>(false)

    /// - Parameter resolve: a bucket token to its destination; a throw drops the token's buckets
    ///   (logged without the token, counted as `unresolvable`).
    public init(store: Store, configuration: OutletConfiguration,
                resolve: @escaping @Sendable (String) throws -> Destination,
                metrics: MetricsRegistry, logger: Logger) {
        let scheduler = DeliveryScheduler(capacity: configuration.queueCapacity, byteCapacity: configuration.queueBytes,
                                          perDestination: configuration.perDestinationConcurrency,
                                          breaker: configuration.breaker)
        context = OutletContext(store: store, configuration: configuration, resolve: resolve,
                                metrics: OutletMetrics(metrics), logger: logger, control: OutletControl(),
                                scheduler: scheduler)
    }

    /// Starts the claimer and the sender threads.
    public func start() {
        guard started.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        let context = self.context
        spawn("l2met-claimer") { ClaimLoop(context: context).run() }
        for i in 0..<max(1, context.configuration.workers) {
            spawn("l2met-outlet-\(i)") { DeliveryWorker(index: i, context: context, stoppable: true).run() }
        }
        context.logger.info("outlet started", metadata: [
            "workers": "\(context.configuration.workers)", "lease": "\(context.configuration.effectiveLease)",
            "retention": "\(context.configuration.retention)",
        ])
    }

    private func spawn(_ name: String, _ body: @escaping @Sendable () -> Void) {
        running.enter()
        let thread = Thread { [running] in
            body()
            running.leave()
        }
        thread.name = name
        thread.start()
    }

    /// Stops claiming and sending; queued requests never sent are given back to the store (due at
    /// once, for another outlet); requests in flight finish (for up to `stopGrace` seconds, then they
    /// are aborted and their buckets put back). Returns when every thread has ended.
    public func stop() {
        context.control.stop()
        context.scheduler.wake()
        if running.wait(timeout: .now() + context.configuration.stopGrace) == .timedOut {
            context.logger.warning("aborting requests still in flight")
            context.control.abort()
            running.wait()
        }
        let queued = context.scheduler.removeAll()
        if !queued.isEmpty {
            let worker = DeliveryWorker(index: -1, context: context, stoppable: false)
            worker.putBack(queued, dueAt: WallClock.epochSeconds(), because: .released)
            let buckets = queued.reduce(0) { $0 + $1.buckets.count }
            context.metrics.releasedBuckets.increment(by: buckets)
            context.logger.info("stopping: queued buckets given back to the store for another outlet", metadata: [
                "buckets": "\(buckets)",
            ])
        }
    }

    /// Delivers everything the store holds, due or not, before `deadline`, on the calling thread (with
    /// retries in place, bounded by `deadline`). Used at shutdown with the in-memory store, where nothing
    /// would outlive the process. Call after `stop()`.
    public func drain(until deadline: ContinuousClock.Instant) {
        let planner = DeliveryPlanner(context: context)
        let worker = DeliveryWorker(index: -1, context: context, stoppable: false)
        let farFuture = Int64.max / 4
        let lease = context.configuration.effectiveLease
        var claimedTotal = 0
        var left = 0
        for partition in 0..<max(1, context.store.partitions) {
            while ContinuousClock.now < deadline {
                let claimed: [ClaimedBucket]
                do {
                    claimed = try context.store.claim(partition: partition, now: farFuture,
                                                      limit: context.configuration.claimLimit, lease: lease)
                } catch {
                    context.metrics.storeErrors.increment()
                    context.logger.error("claim failed while draining", metadata: ["error": "\(error)"])
                    break
                }
                if claimed.isEmpty { break }
                claimedTotal += claimed.count
                let now = WallClock.seconds()
                left += worker.deliverNow(planner.plan(claimed, leaseEnd: leaseEnd(now: farFuture, lease: lease), now: now),
                                          deadline: deadline)
            }
        }
        if left > 0 || ContinuousClock.now >= deadline {
            context.logger.error("drain ended before everything was delivered", metadata: [
                "buckets": "\(claimedTotal)", "undelivered": "\(left)",
            ])
        } else {
            context.logger.info("drained", metadata: ["buckets": "\(claimedTotal)"])
        }
    }
}
