import Foundation
import L2metCore
import L2metObservability
import L2metStore
import Logging
import Synchronization

/// Moves buckets from the receiver's registers to the store every flush interval.
///
/// What it takes from the registers is cut into chunks of at most `chunkBuckets` buckets and about
/// `chunkBytes` bytes (one bucket's record is at most `BucketCodec.maxSketchRecordSize`, 41 KB: a
/// measurement is exact up to 4,096 values and a bounded sketch above), each written on its own under
/// a flush id of its own, so a store that
/// has room for some of it takes that much. A chunk the store confirms is done; a chunk whose call
/// failed (store down, reply lost, an error reply) is kept as it was, under its id, and retried
/// unchanged until the store confirms it (the store skips what that id already applied). Buckets the
/// store answered it did not apply are kept, under a new id, when they may pass later (out of
/// memory), or dropped, logged and counted when they never can (too large for Redis's string limit,
/// a key of the wrong type). Until every chunk is written, what arrives meanwhile waits, merged, for
/// the next batch; nothing answered 2xx is dropped otherwise.
///
/// While what is held in memory exceeds the configured bound, `isOverloaded` is true and the receiver
/// answers 503 to new drains; so it does once the flusher has failed to write what it holds for
/// longer than `failureLimit` (`failure`), and `/health` says so.
final class Flusher: Sendable {
    private let registers: RegisterPool
    private let store: Store
    private let interval: Double
    private let deadline: Int
    private let memoryLimit: Int
    private let flushBytes: Int
    /// Seconds the flusher may fail before drains and `/health` get 503.
    let failureLimit: Double
    private let logger: Logger

    /// A part of a batch written in one store call, under its own flush id.
    private struct Chunk {
        var id: String
        var items: [(key: BucketKey, data: BucketData)]
        var bytes: Int
    }

    /// Most buckets in one chunk.
    static let chunkBuckets = 1000
    /// About the most bytes in one chunk.
    static let chunkBytes = 1 << 20
    /// Longest wait between two flushes while the store refuses them (seconds).
    static let backoffCap = 10.0

    /// What the flushes work on; its lock serialises flushes (the loop, and the last one at shutdown).
    private struct FlushState {
        /// Taken from the registers, never sent to the store.
        var pending: [BucketKey: BucketData] = [:]
        /// Sent (or about to be) and not yet confirmed by the store, in order; a failed chunk stays
        /// here with its id, since it may or may not be applied.
        var outstanding: [Chunk] = []
        /// Consecutive flushes that wrote nothing while something was left: the back-off.
        var failures = 0
        /// When the last "store append failed" was logged; nil once the store takes everything again.
        var lastErrorLog: ContinuousClock.Instant?
    }

    /// What is held, for the receiver's checks: under a lock of its own, so the receiver never waits
    /// on a slow store call.
    private struct Held {
        var bytes = 0
        var count = 0
        /// Since when the flusher has held buckets it could not write; nil when the last flush
        /// wrote everything.
        var failingSince: ContinuousClock.Instant?
    }

    private let state = Mutex(FlushState())
    private let held = Mutex(Held())
    /// Consecutive failures as the loop reads them for its back-off (a copy of `FlushState.failures`).
    private let failureCount = Atomic<Int>(0)
    private let stopped = Atomic<Bool>(false)
    private let started = Atomic<Bool>(false)
    /// Signalled by `stopAndDrain` to end the loop's wait early; then by the loop once it has ended.
    private let wake = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)

    private let metrics: MetricsRegistry
    private let flushes: Counter
    private let flushedBuckets: Counter
    private let storeErrors: Counter
    private let heldBuckets: Gauge
    private let heldBytes: Gauge
    private let failingSeconds: Gauge

    init(registers: RegisterPool, store: Store, interval: Double, deadline: Int, memoryLimit: Int,
         flushBytes: Int, failureLimit: Double = 30, metrics: MetricsRegistry, logger: Logger) {
        self.flushBytes = flushBytes
        self.registers = registers
        self.store = store
        self.interval = interval
        self.deadline = deadline
        self.memoryLimit = memoryLimit
        self.failureLimit = failureLimit
        self.logger = logger
        self.metrics = metrics
        flushes = metrics.counter("l2met_flushes_total", "Flushes of the receiver's buckets to the store that succeeded.")
        flushedBuckets = metrics.counter("l2met_flushed_buckets_total", "Buckets written to the store.")
        storeErrors = metrics.counter("l2met_store_errors_total", "Store calls that failed.", labels: [("op", "append")])
        heldBuckets = metrics.gauge("l2met_buckets", "Buckets held in the receiver's memory, not yet in the store.")
        heldBytes = metrics.gauge("l2met_held_bytes", "Approximate bytes of buckets held in the receiver's memory.")
        failingSeconds = metrics.gauge("l2met_flush_failing_seconds",
                                       "Seconds since the receiver first failed to write what it holds to the store (0: it is writing).")
        for reason in ["too_large", "wrong_type"] {
            _ = refusedCounters(reason)
        }
    }

    /// The counters of buckets (and of their values) the store refused for good, by reason.
    private func refusedCounters(_ reason: String) -> (buckets: Counter, values: Counter) {
        (metrics.counter("l2met_store_refused_buckets_total",
                         "Buckets (or pieces of one) the store refused for good, dropped, by reason.", labels: [("reason", reason)]),
         metrics.counter("l2met_store_refused_values_total",
                         "Values in the buckets the store refused for good, by reason.", labels: [("reason", reason)]))
    }

    /// When a bucket becomes due for the outlet: once no line can enter it any more, plus time for
    /// the last flush to land.
    func dueAt(_ key: BucketKey) -> Int64 {
        key.closesAt(deadline: deadline) + Int64(interval.rounded(.up)) + 1
    }

    /// True while the memory held for a slow or absent store is over the bound.
    var isOverloaded: Bool {
        held.withLock { $0.bytes } + registers.approximateBytes > memoryLimit
    }

    /// What the flusher holds because the store does not take it.
    struct Failure {
        /// Seconds since it first failed to write.
        var seconds: Double
        var buckets: Int
        var bytes: Int
    }

    /// Non-nil while the flusher has failed to write what it holds for longer than `failureLimit`.
    var failure: Failure? {
        guard let f = failing, f.seconds > failureLimit else { return nil }
        return f
    }

    /// Non-nil while the flusher holds buckets it could not write.
    var failing: Failure? {
        held.withLock { held in
            guard let since = held.failingSince else { return nil }
            return Failure(seconds: (ContinuousClock.now - since).inSeconds, buckets: held.count, bytes: held.bytes)
        }
    }

    func start() {
        started.store(true, ordering: .sequentiallyConsistent)
        let t = Thread { [self] in self.loop() }
        t.name = "l2met-flusher"
        t.start()
    }

    /// Flushes every `interval`, and sooner when the registers hold `flushBytes` or more, so a
    /// busy receiver's memory stays small; after a failure, waits with back-off instead.
    private func loop() {
        var last = ContinuousClock.now
        while true {
            let failures = failureCount.load(ordering: .relaxed)
            let backoff = failures == 0 ? interval : min(max(interval, Self.backoffCap),
                                                         interval * pow(2, Double(min(failures, 5))))
            let next = last + .seconds(backoff)
            let wait = min(next - ContinuousClock.now, .seconds(Self.sizeCheckPeriod))
            if wait > .zero { _ = wake.wait(timeout: .now() + wait.inSeconds) }
            if stopped.load(ordering: .sequentiallyConsistent) { break }
            failingSeconds.set(failing?.seconds ?? 0)
            let full = failures == 0 && registers.approximateBytes >= flushBytes
            if full || ContinuousClock.now >= next {
                _ = flush()
                last = ContinuousClock.now
            }
        }
        done.signal()
    }

    /// How often the loop looks at the registers' size between flushes (seconds).
    private static let sizeCheckPeriod = 0.05

    /// Takes everything from the registers and tries to write it, with whatever is held, to the
    /// store. Returns true when nothing is left held.
    @discardableResult
    func flush() -> Bool {
        let fresh = registers.takeAll()
        let (clear, wrote, since) = state.withLock { state in
            for (key, data) in fresh {
                state.pending[key, default: BucketData(kind: key.kind)].merge(data)
            }
            // First the chunks whose outcome is unknown or that are left over, as they were; only then new data.
            var wrote = false
            var clear = writeOutstanding(&state, &wrote)
            if clear && !state.pending.isEmpty {
                state.outstanding = Self.chunks(of: state.pending)
                state.pending.removeAll(keepingCapacity: true)
                clear = writeOutstanding(&state, &wrote)
            }
            updateHeld(state)
            let since = held.withLock { held in
                let since = held.failingSince
                if clear {
                    held.failingSince = nil
                } else if held.failingSince == nil {
                    held.failingSince = .now
                }
                return since
            }
            if clear {
                state.failures = 0
                state.lastErrorLog = nil
            } else {
                // Progress (some chunks written) means the store has room again: go on at the usual pace.
                state.failures = wrote ? 0 : state.failures + 1
            }
            failureCount.store(state.failures, ordering: .relaxed)
            return (clear, wrote, since)
        }
        if clear {
            if wrote { flushes.increment() }
            if let since {
                logger.info("store is back", metadata: ["failing_seconds": "\(Int((ContinuousClock.now - since).inSeconds))"])
            }
        }
        failingSeconds.set(failing?.seconds ?? 0)
        return clear
    }

    /// Writes the outstanding chunks in order, one store call each, until one makes no progress at
    /// all (the store is down or full: the rest wait for the next flush). Returns true when none is
    /// left; `wrote` is set when any bucket was written.
    private func writeOutstanding(_ state: inout FlushState, _ wrote: inout Bool) -> Bool {
        guard !state.outstanding.isEmpty else { return true }
        var left: [Chunk] = []
        var halted = false
        var dropped: [BucketKey: (pieces: Int, values: Int, refusal: AppendRefusal)] = [:]
        var lastError = ""
        for chunk in state.outstanding {
            if halted {
                left.append(chunk)
                continue
            }
            do {
                let refusals = try store.appendReporting(chunk.items, flushID: chunk.id, dueAt: dueAt)
                var retry: [(key: BucketKey, data: BucketData)] = []
                for r in refusals where chunk.items.indices.contains(r.index) {
                    let item = chunk.items[r.index]
                    if r.isPermanent {
                        let c = refusedCounters(r.reason)
                        let values = item.data.count
                        c.buckets.increment()
                        c.values.increment(by: values)
                        let d = dropped[item.key] ?? (0, 0, r)
                        dropped[item.key] = (d.pieces + 1, d.values + values, r)
                    } else {
                        retry.append(item)
                        lastError = r.error
                    }
                }
                let applied = chunk.items.count - refusals.count
                flushedBuckets.increment(by: applied)
                if applied > 0 { wrote = true }
                if !retry.isEmpty {
                    // Not applied at all: the chunk's id is spent (its marker holds its report).
                    left.append(Chunk(id: FlushID.make(), items: retry, bytes: Self.bytes(of: retry)))
                    storeErrors.increment()
                    if applied == 0 && refusals.count == retry.count { halted = true }
                }
            } catch {
                left.append(chunk)
                storeErrors.increment()
                lastError = "\(error)"
                halted = true
            }
        }
        state.outstanding = left
        for (key, d) in dropped {
            // No token: the bucket's series and interval only.
            logger.error("store refused a bucket for good; dropped", metadata: [
                "name": "\(key.name)", "source": "\(key.source)", "resolution": "\(key.resolution)",
                "time": "\(key.time)", "kind": "\(key.kind)", "pieces": "\(d.pieces)", "values": "\(d.values)",
                "reason": "\(d.refusal.reason)", "error": "\(d.refusal.error)",
            ])
        }
        if !left.isEmpty && state.lastErrorLog.map({ ContinuousClock.now - $0 >= .seconds(10) }) ?? true {
            state.lastErrorLog = .now
            logger.error("store append failed, keeping buckets in memory", metadata: [
                "error": "\(lastError)", "buckets": "\(left.reduce(0) { $0 + $1.items.count } + state.pending.count)",
                "chunks": "\(left.count)", "failures": "\(state.failures + 1)",
            ])
        }
        return left.isEmpty
    }

    /// `batch` cut into chunks of at most `chunkBuckets` buckets and about `chunkBytes` bytes, under
    /// fresh ids.
    private static func chunks(of batch: [BucketKey: BucketData]) -> [Chunk] {
        var out: [Chunk] = []
        var current = Chunk(id: FlushID.make(), items: [], bytes: 0)
        func add(_ key: BucketKey, _ data: BucketData) {
            let size = bytes(key, data)
            if !current.items.isEmpty && (current.items.count >= chunkBuckets || current.bytes + size > chunkBytes) {
                out.append(current)
                current = Chunk(id: FlushID.make(), items: [], bytes: 0)
            }
            current.items.append((key, data))
            current.bytes += size
        }
        for (key, data) in batch { add(key, data) }
        if !current.items.isEmpty { out.append(current) }
        return out
    }

    /// Approximate bytes one bucket holds.
    private static func bytes(_ key: BucketKey, _ data: BucketData) -> Int {
        96 + key.token.utf8.count + key.name.utf8.count + key.source.utf8.count + data.approximateValueBytes
    }

    /// Approximate bytes `batch` holds.
    private static func bytes<S: Sequence>(of batch: S) -> Int where S.Element == (key: BucketKey, data: BucketData) {
        batch.reduce(0) { $0 + bytes($1.key, $1.data) }
    }

    /// Recomputes what is held (outstanding chunks and pending data) from `state`.
    private func updateHeld(_ state: FlushState) {
        let bytes = state.outstanding.reduce(0) { $0 + $1.bytes }
            + Self.bytes(of: state.pending.lazy.map { (key: $0.key, data: $0.value) })
        let count = state.outstanding.reduce(0) { $0 + $1.items.count } + state.pending.count
        held.withLock { held in
            held.bytes = bytes
            held.count = count
        }
        heldBuckets.set(count)
        heldBytes.set(bytes)
    }

    /// Stops the loop and flushes until the store takes everything or `limit` passes.
    /// Returns true when nothing was left behind.
    func stopAndDrain(until limit: ContinuousClock.Instant) -> Bool {
        stopped.store(true, ordering: .sequentiallyConsistent)
        wake.signal()
        if started.load(ordering: .sequentiallyConsistent) { done.wait() }
        // From here a body still in ingestion is refused (503), never taken after the last flush.
        registers.close()
        while true {
            if flush() { return true }
            if ContinuousClock.now >= limit { break }
            Thread.sleep(forTimeInterval: 0.2)
        }
        let left = state.withLock { $0.pending.count + $0.outstanding.reduce(0) { $0 + $1.items.count } }
        logger.error("shutting down with buckets the store did not take", metadata: ["buckets": "\(left)"])
        return false
    }
}
