import Foundation
import L2metCore
import L2metStore
import Logging

/// The claimer thread: claims due buckets partition by partition while the scheduler has room for
/// them, plans their deliveries and queues them; refreshes the store's backlog figures. Partitions
/// are visited in turn, starting one further each round, so none is served before the others twice.
final class ClaimLoop {
    private let context: OutletContext
    private let planner: DeliveryPlanner
    private var logger: Logger
    private var claimFailing = false
    /// When the backlog figures are due for a refresh (nil: at once).
    private var nextBacklog: ContinuousClock.Instant?
    private var quarantined = 0
    /// Claims that threw, by partition: they may have run all the same (a lost reply, a stalled store),
    /// so the next claim of that partition is sent again under the same name and time, and hands out
    /// what they took instead of leaving it leased for a whole lease.
    private var unanswered: [Int: (id: String, now: Int64)] = [:]

    init(context: OutletContext) {
        self.context = context
        planner = DeliveryPlanner(context: context)
        logger = context.logger
        logger[metadataKey: "thread"] = "claimer"
    }

    /// Claims until the outlet stops.
    func run() {
        let control = context.control
        let scheduler = context.scheduler
        let partitions = max(1, context.store.partitions)
        let lease = context.configuration.effectiveLease
        var round = 0
        while !control.isStopping {
            refreshBacklog()
            var claimedAny = false
            var full = false
            for i in 0..<partitions {
                if control.isStopping { break }
                let room = scheduler.room
                if room <= 0 {
                    full = true
                    break
                }
                let partition = (round + i) % partitions
                var now = WallClock.seconds()  // the store's times (due, lease) are wall time
                var id = FlushID.make()
                if let retry = unanswered[partition], retry.now + lease > now + 1 {
                    (id, now) = retry
                }
                let claimed: [ClaimedBucket]
                do {
                    claimed = try context.store.claim(partition: partition, now: now,
                                                      limit: min(context.configuration.claimLimit, room), lease: lease,
                                                      claimID: id)
                    unanswered[partition] = nil
                    if claimFailing {
                        claimFailing = false
                        logger.info("store answers again")
                    }
                } catch {
                    unanswered[partition] = (id, now)
                    context.metrics.storeErrors.increment()
                    if !claimFailing { logger.error("claim failed", metadata: ["error": "\(error)"]) }
                    claimFailing = true
                    break
                }
                // Buckets whose records in the store passed 256 KiB are merged into one (any outlet may).
                if let n = try? context.store.compact(partition: partition, limit: 16), n > 0 {
                    context.metrics.compactedBuckets.increment(by: n)
                }
                guard !claimed.isEmpty else { continue }
                claimedAny = true
                let overflow = scheduler.enqueue(planner.plan(claimed, leaseEnd: leaseEnd(now: now, lease: lease), now: now))
                if !overflow.isEmpty {
                    // A destination with a full share of the queue: its extra buckets wait in the store.
                    putBack(overflow, dueAt: Double(now + 1), because: .released, context: context, logger: logger)
                    context.metrics.releasedBuckets.increment(by: overflow.reduce(0) { $0 + $1.buckets.count })
                }
                context.metrics.queuedBuckets.set(scheduler.queuedBuckets)
            }
            round &+= 1
            if full {
                _ = control.sleep(0.05)
            } else if !claimedAny {
                _ = control.sleep(context.configuration.pollInterval)
            }
        }
    }

    private func refreshBacklog() {
        let now = ContinuousClock.now
        if let nextBacklog, now < nextBacklog { return }
        nextBacklog = now + .seconds(context.configuration.backlogInterval)
        do {
            let seconds = WallClock.seconds()  // compared with the store's due times and bucket ends
            let backlog = try context.store.backlog(now: seconds)
            context.metrics.record(backlog, now: seconds)
            if backlog.quarantined > quarantined {
                logger.error("buckets set aside: their claims kept running out unsettled (an outlet crashing or stalling on them)",
                             metadata: ["quarantined": "\(backlog.quarantined)", "new": "\(backlog.quarantined - quarantined)"])
            }
            quarantined = backlog.quarantined
        } catch {
            context.metrics.storeErrors.increment()
        }
        context.metrics.openBreakers.set(context.scheduler.openBreakers)
    }
}
