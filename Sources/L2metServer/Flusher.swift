import Foundation
import L2metCore
import L2metObservability
import L2metStore
import Logging

/// Moves buckets from the receiver's registers to the store every flush interval.
///
/// A batch the store refuses (down, slow) stays here and is retried with back-off; nothing answered
/// 2xx is dropped. A failed batch may still have been applied (its reply lost), so it is retried
/// unchanged under its flush id until the store confirms it (the store skips what that id already
/// applied); what arrives meanwhile waits, merged, for the next batch. While what is held in memory
/// exceeds the configured bound, `isOverloaded` is true and the receiver answers 503 to new drains.
final class Flusher: @unchecked Sendable {
    private let registers: RegisterPool
    private let store: Store
    private let interval: Double
    private let deadline: Int
    private let memoryLimit: Int
    private let flushBytes: Int
    private let logger: Logger

    /// Serialises flushes (the loop, and the last one at shutdown).
    private let lock = NSLock()
    /// Taken from the registers, never sent to the store.
    private var pending: [BucketKey: BucketData] = [:]
    /// Sent under `id`, and the store did not confirm it: it may or may not be applied.
    private var unconfirmed: (id: String, batch: [(key: BucketKey, data: BucketData)])?
    /// Guards `pendingBytes` alone, so the receiver never waits on a slow store call.
    private let sizeLock = NSLock()
    private var pendingBytes = 0
    private var failures = 0
    private var stopped = false
    private let wake = NSCondition()
    private var thread: Thread?
    private let done = DispatchSemaphore(value: 0)

    private let flushes: Counter
    private let flushedBuckets: Counter
    private let storeErrors: Counter
    private let heldBuckets: Gauge
    private let heldBytes: Gauge

    init(registers: RegisterPool, store: Store, interval: Double, deadline: Int, memoryLimit: Int,
         flushBytes: Int, metrics: MetricsRegistry, logger: Logger) {
        self.flushBytes = flushBytes
        self.registers = registers
        self.store = store
        self.interval = interval
        self.deadline = deadline
        self.memoryLimit = memoryLimit
        self.logger = logger
        flushes = metrics.counter("l2met_flushes_total", "Flushes of the receiver's buckets to the store that succeeded.")
        flushedBuckets = metrics.counter("l2met_flushed_buckets_total", "Buckets written to the store.")
        storeErrors = metrics.counter("l2met_store_errors_total", "Store calls that failed.", labels: [("op", "append")])
        heldBuckets = metrics.gauge("l2met_buckets", "Buckets held in the receiver's memory, not yet in the store.")
        heldBytes = metrics.gauge("l2met_held_bytes", "Approximate bytes of buckets held in the receiver's memory.")
    }

    /// When a bucket becomes due for the outlet: once no line can enter it any more, plus time for
    /// the last flush to land.
    func dueAt(_ key: BucketKey) -> Int64 {
        key.closesAt(deadline: deadline) + Int64(interval.rounded(.up)) + 1
    }

    /// True while the memory held for a slow or absent store is over the bound.
    var isOverloaded: Bool {
        sizeLock.lock()
        let held = pendingBytes
        sizeLock.unlock()
        return held + registers.approximateBytes > memoryLimit
    }

    func start() {
        let t = Thread { [self] in self.loop() }
        t.name = "l2met-flusher"
        thread = t
        t.start()
    }

    /// Flushes every `interval`, and sooner when the registers hold `flushBytes` or more, so a
    /// busy receiver's memory stays small; after a failure, waits with back-off instead.
    private func loop() {
        var last = Date()
        while true {
            let backoff = failures == 0 ? interval : min(30, interval * pow(2, Double(min(failures, 5))))
            let next = last.addingTimeInterval(backoff)
            wake.lock()
            if !stopped {
                _ = wake.wait(until: min(next, Date(timeIntervalSinceNow: Self.sizeCheckPeriod)))
            }
            let stop = stopped
            wake.unlock()
            if stop { break }
            let full = failures == 0 && registers.approximateBytes >= flushBytes
            if full || Date() >= next {
                _ = flush()
                last = Date()
            }
        }
        done.signal()
    }

    /// How often the loop looks at the registers' size between flushes (seconds).
    private static let sizeCheckPeriod = 0.05

    /// Takes everything from the registers and tries to write it, with whatever is pending, to
    /// the store. Returns true when nothing is left pending.
    @discardableResult
    func flush() -> Bool {
        let fresh = registers.takeAll()
        lock.lock()
        defer { lock.unlock() }
        for (key, data) in fresh {
            pending[key, default: BucketData(kind: key.kind)].merge(data)
        }
        // First the batch whose outcome is unknown, as it was, under its id; only then new data.
        if let (id, batch) = unconfirmed {
            guard write(batch, id: id) else { return false }
            unconfirmed = nil
        }
        if pending.isEmpty {
            setPendingBytes(0)
            return true
        }
        let batch = pending.map { (key: $0.key, data: $0.value) }
        pending.removeAll(keepingCapacity: true)
        let id = FlushID.make()
        guard write(batch, id: id) else {
            unconfirmed = (id, batch)
            setPendingBytes(Self.bytes(of: batch))
            return false
        }
        setPendingBytes(0)
        return true
    }

    /// One store call; on failure logs, counts and updates what is held. Call with `lock` held.
    private func write(_ batch: [(key: BucketKey, data: BucketData)], id: String) -> Bool {
        do {
            try store.append(batch, flushID: id, dueAt: dueAt)
            flushes.increment()
            flushedBuckets.increment(by: batch.count)
            if failures > 0 {
                logger.info("store is back", metadata: ["buckets": "\(batch.count)", "failures": "\(failures)"])
            }
            failures = 0
            return true
        } catch {
            failures += 1
            storeErrors.increment()
            setPendingBytes(Self.bytes(of: batch) + Self.bytes(of: pending.lazy.map { (key: $0.key, data: $0.value) }))
            if failures == 1 || failures % 30 == 0 {
                logger.error("store append failed, keeping buckets in memory",
                             metadata: ["error": "\(error)", "buckets": "\(batch.count + pending.count)", "failures": "\(failures)"])
            }
            return false
        }
    }

    /// Approximate bytes `batch` holds.
    private static func bytes<S: Sequence>(of batch: S) -> Int where S.Element == (key: BucketKey, data: BucketData) {
        batch.reduce(0) {
            $0 + 96 + $1.key.token.utf8.count + $1.key.name.utf8.count + $1.key.source.utf8.count + $1.data.approximateValueBytes
        }
    }

    private func setPendingBytes(_ bytes: Int) {
        sizeLock.lock()
        pendingBytes = bytes
        sizeLock.unlock()
        heldBuckets.set(pending.count + (unconfirmed?.batch.count ?? 0))
        heldBytes.set(bytes)
    }

    /// Stops the loop and flushes until the store takes everything or `deadline` passes.
    /// Returns true when nothing was left behind.
    func stopAndDrain(until limit: Date) -> Bool {
        wake.lock()
        stopped = true
        wake.signal()
        wake.unlock()
        if thread != nil { done.wait() }
        // From here a body still in ingestion is refused (503), never taken after the last flush.
        registers.close()
        while true {
            if flush() { return true }
            if Date() >= limit { break }
            Thread.sleep(forTimeInterval: 0.2)
        }
        lock.lock()
        let left = pending.count + (unconfirmed?.batch.count ?? 0)
        lock.unlock()
        logger.error("shutting down with buckets the store did not take", metadata: ["buckets": "\(left)"])
        return false
    }
}
