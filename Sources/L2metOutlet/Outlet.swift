import Foundation
import L2metCore
import L2metObservability
import L2metStore
import Logging

/// The outlet: worker threads that claim due buckets from the store, turn them into gauges, deliver
/// them to each bucket token's destination, and acknowledge (delete) them once accepted or refused for
/// good. See `OutletConfiguration` for the retry and lease rules.
public final class Outlet: @unchecked Sendable {
    private let shared: OutletWorker.Shared
    private let lock = NSLock()
    private let running = DispatchGroup()
    private var started = false

    /// - Parameter resolve: a bucket token to its destination; a throw drops the token's buckets
    ///   (logged without the token, counted as `unresolvable`).
    public init(store: Store, configuration: OutletConfiguration,
                resolve: @escaping @Sendable (String) throws -> Destination,
                metrics: MetricsRegistry, logger: Logger) {
        shared = OutletWorker.Shared(store: store, configuration: configuration, resolve: resolve,
                                     metrics: OutletMetrics(metrics), logger: logger, control: OutletControl())
    }

    /// Starts the worker threads.
    public func start() {
        lock.lock()
        defer { lock.unlock() }
        guard !started else { return }
        started = true
        let shared = self.shared
        for i in 0..<max(1, shared.configuration.workers) {
            running.enter()
            let thread = Thread { [running] in
                OutletWorker(index: i, shared: shared, stoppable: true).run()
                running.leave()
            }
            thread.name = "l2met-outlet-\(i)"
            thread.start()
        }
        shared.logger.info("outlet started", metadata: [
            "workers": "\(shared.configuration.workers)", "lease": "\(shared.configuration.effectiveLease)",
            "max_attempts": "\(shared.configuration.maxAttempts)",
        ])
    }

    /// Stops claiming; the requests in flight finish (for up to `stopGrace` seconds, then they are
    /// aborted), and no retry is started. Buckets not acknowledged stay in the store. Returns when every
    /// worker has ended.
    public func stop() {
        shared.control.stop()
        if running.wait(timeout: .now() + shared.configuration.stopGrace) == .timedOut {
            shared.logger.warning("aborting requests still in flight")
            shared.control.abort()
            running.wait()
        }
    }

    /// Delivers everything the store holds, due or not, before `until`, on the calling thread (with
    /// retries, bounded by `until`). Used at shutdown with the in-memory store, where nothing would
    /// outlive the process. Call after `stop()`.
    public func drain(until: Date) {
        let worker = OutletWorker(index: -1, shared: shared, stoppable: false)
        let deadline = until.timeIntervalSince1970
        let farFuture = Int64.max / 4
        let lease = shared.configuration.effectiveLease
        var claimedTotal = 0
        var left = 0
        for partition in 0..<max(1, shared.store.partitions) {
            while Date() < until {
                let claimed: [ClaimedBucket]
                do {
                    claimed = try shared.store.claim(partition: partition, now: farFuture,
                                                     limit: shared.configuration.claimLimit, lease: lease)
                } catch {
                    shared.metrics.storeErrors.increment()
                    shared.logger.error("claim failed while draining", metadata: ["error": "\(error)"])
                    break
                }
                if claimed.isEmpty { break }
                claimedTotal += claimed.count
                left += worker.process(claimed, deadline: deadline)
            }
        }
        if left > 0 || Date() >= until {
            shared.logger.error("drain ended before everything was delivered", metadata: [
                "buckets": "\(claimedTotal)", "undelivered": "\(left)",
            ])
        } else {
            shared.logger.info("drained", metadata: ["buckets": "\(claimedTotal)"])
        }
    }
}
