import Foundation
import L2metCore
import L2metObservability
import L2metStore
import Logging
import Synchronization

/// The store bytes each recently active drain holds (its undelivered buckets, as the store accounts
/// them: `Store.heldBytes`), refreshed on a thread of its own so that no drain request ever waits on
/// the store, and whether a drain is over its limit.
///
/// Invariants: only drains seen within `activeWindow` are tracked (memory is bounded by the drains
/// active in that window); a drain is over its limit only after a refresh read it at or past
/// `limit`, and is let in again once a refresh reads it below (its destination took its buckets).
/// A refresh that fails keeps the last reading.
final class DrainStoreUsage: Sendable {
    let limit: Int
    private let store: Store
    private let interval: Duration
    private let activeWindow: Duration
    private let logger: Logger

    private struct Drain {
        var lastSeen: ContinuousClock.Instant
        var bytes = 0
        /// Whether /metrics has a `l2met_drain_store_bytes` series for it (kept up to date, 0 once forgotten).
        var gauged = false
    }

    private let drains = Mutex<[String: Drain]>([:])
    private let stopped = Atomic<Bool>(false)
    private let wake = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)
    private let started = Atomic<Bool>(false)
    private let overLimit: Gauge
    private let metrics: MetricsRegistry
    private let refreshErrors: Counter

    /// - Parameter limit: bytes one drain may hold in the store; 0 or less: no limit (nothing is tracked).
    init(store: Store, limit: Int, interval: Double = 2, activeWindow: Double = 300, metrics: MetricsRegistry,
         logger: Logger) {
        self.store = store
        self.limit = limit
        self.interval = .seconds(interval)
        self.activeWindow = .seconds(activeWindow)
        self.logger = logger
        overLimit = metrics.gauge("l2met_drains_over_store_limit",
                                  "Drains whose undelivered buckets in the store are at or past --max-store-bytes-per-drain.")
        self.metrics = metrics
        refreshErrors = metrics.counter("l2met_store_errors_total", "Store calls that failed.", labels: [("op", "held_bytes")])
    }

    var isUnlimited: Bool { limit <= 0 }

    /// Notes that drain `token` sent a body; true when it is over its limit as last read.
    func isOverLimit(token: String) -> Bool {
        if isUnlimited { return false }
        let now = ContinuousClock.now
        return drains.withLock { drains in
            if drains[token] == nil {
                drains[token] = Drain(lastSeen: now)
                return false
            }
            drains[token]!.lastSeen = now
            return drains[token]!.bytes >= limit
        }
    }

    /// Reads the held bytes of the drains seen within the active window, and forgets the others.
    func refresh() {
        let now = ContinuousClock.now
        let (tokens, forgotten) = drains.withLock { drains in
            let forgotten = drains.filter { now - $0.value.lastSeen > activeWindow && $0.value.gauged }.map(\.key)
            drains = drains.filter { now - $0.value.lastSeen <= activeWindow }
            return (Array(drains.keys), forgotten)
        }
        for token in forgotten { heldGauge(token).set(0) }
        guard !tokens.isEmpty else { return }
        let held: [String: Int]
        do {
            held = try store.heldBytes(tokens: tokens, now: WallClock.seconds())
        } catch {
            refreshErrors.increment()
            logger.warning("cannot read the drains' store bytes; keeping the last reading", metadata: ["error": "\(error)"])
            return
        }
        let (over, gauged) = drains.withLock { drains in
            var over = 0
            var gauged: [(String, Int)] = []
            for (token, bytes) in held where drains[token] != nil {
                drains[token]!.bytes = bytes
                if bytes >= limit { over += 1 }
                // Per drain only past half its limit, so /metrics grows with the drains in trouble, not all.
                if bytes * 2 >= limit || drains[token]!.gauged {
                    drains[token]!.gauged = true
                    gauged.append((token, bytes))
                }
            }
            return (over, gauged)
        }
        overLimit.set(over)
        for (token, bytes) in gauged { heldGauge(token).set(bytes) }
    }

    private func heldGauge(_ token: String) -> Gauge {
        metrics.gauge("l2met_drain_store_bytes",
                      "Store bytes held by a drain's undelivered buckets, for drains that reached half their limit, by drain (DrainID: a hash of its token).",
                      labels: [("drain", DrainID.of(token: token))])
    }

    func start() {
        guard !isUnlimited else { return }
        started.store(true, ordering: .sequentiallyConsistent)
        let t = Thread { [self] in
            while !stopped.load(ordering: .sequentiallyConsistent) {
                refresh()
                _ = wake.wait(timeout: .now() + interval.inSeconds)
            }
            done.signal()
        }
        t.name = "l2met-store-usage"
        t.start()
    }

    func stop() {
        stopped.store(true, ordering: .sequentiallyConsistent)
        wake.signal()
        if started.load(ordering: .sequentiallyConsistent) { done.wait() }
    }
}
