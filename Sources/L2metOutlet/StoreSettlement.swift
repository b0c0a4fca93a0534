import Foundation
import L2metCore
import L2metStore
import Logging

// How the outlet settles claimed buckets in the store: deleted for good, or given back with a due time.

/// Deletes delivered (or dropped) buckets; a failing store is tried three times, then the buckets
/// come back when their lease runs out (and are posted again: at least once).
func acknowledge(_ keys: [BucketKey], context: OutletContext, logger: Logger) {
    guard !keys.isEmpty else { return }
    for attempt in 1...3 {
        do {
            try context.store.acknowledge(keys)
            return
        } catch {
            context.metrics.storeErrors.increment()
            logger.error("acknowledge failed", metadata: ["error": "\(error)", "attempt": "\(attempt)", "buckets": "\(keys.count)"])
            if attempt < 3 { Thread.sleep(forTimeInterval: 0.2 * Double(attempt)) }
        }
    }
}

/// Puts deliveries' buckets back in the store, due at `dueAt` (epoch seconds, rounded up); when the
/// store fails they stay claimed and come back when their lease runs out.
func putBack(_ deliveries: [Delivery], dueAt: Double, because reason: RescheduleReason, context: OutletContext,
             logger: Logger) {
    let due = Int64(dueAt.rounded(.up))
    var byLease: [Int64: [BucketKey]] = [:]
    for d in deliveries { byLease[d.leaseEnd, default: []] += d.request.keys }
    for (leaseEnd, keys) in byLease {
        do {
            try context.store.reschedule(keys, leaseEnd: leaseEnd, dueAt: due, because: reason)
        } catch {
            context.metrics.storeErrors.increment()
            logger.error("putting buckets back in the store failed; they come back when their lease ends", metadata: [
                "error": "\(error)", "buckets": "\(keys.count)", "reason": "\(reason.rawValue)",
            ])
        }
    }
}
