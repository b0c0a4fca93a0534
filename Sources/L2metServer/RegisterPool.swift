import L2metCore
import Synchronization

/// A few aggregation registers, each behind its own lock, so that HTTP worker threads ingesting at
/// the same time rarely wait for each other. The flusher empties them all.
///
/// What each register holds is also kept aside, in an atomic of its own, so the per-request
/// overload check and the flusher's size check never wait behind a body being ingested.
///
/// At shutdown the pool is closed before its last flush: a body still being ingested then (a request
/// the HTTP server's grace period left running) is refused instead of landing in a register that is
/// never flushed again.
final class RegisterPool: Sendable {
    /// One register, and whether the pool still takes bodies (`close()` sets it under the lock).
    private struct Slot {
        let register: Register
        var closed = false
    }

    /// A slot behind its lock, and the bytes its register held after the last body it took.
    private final class LockedSlot: Sendable {
        let slot: Mutex<Slot>
        let bytes = Atomic<Int>(0)
        init(_ slot: sending Slot) { self.slot = Mutex(slot) }
    }

    private let slots: [LockedSlot]
    private let cursor = Atomic<Int>(0)
    private let limiter: SeriesLimiter?
    private let deadline: Int

    /// - Parameter limiter: the drains' series limits, shared by the registers; nil: none.
    init(count: Int, deadline: Int, limiter: SeriesLimiter? = nil) {
        slots = (0..<max(1, count)).map { _ in LockedSlot(Slot(register: Register(deadline: deadline, limiter: limiter))) }
        self.limiter = limiter
        self.deadline = deadline
    }

    /// Parses `body` into one of the registers, with the drain's own loss report `loss` (counted in
    /// `measurements`) and at most `allowance` values; nil once the pool is closed (nothing was taken).
    func ingest(_ body: [UInt8], options: DrainOptions, loss: DrainLoss = DrainLoss(), nowMicros: Int64,
                allowance: ValueAllowance = .unlimited) -> IngestCounts? {
        // Take the first free slot, starting from a rotating position; wait on one if all are busy.
        let start = cursor.wrappingAdd(1, ordering: .relaxed).oldValue % slots.count
        for i in 0..<slots.count {
            let index = (start + i) % slots.count
            if let counts = slots[index].slot.withLockIfAvailable({ slot in
                ingest(body, options: options, loss: loss, nowMicros: nowMicros, allowance: allowance, into: &slot, index: index)
            }) {
                return counts
            }
        }
        return slots[start].slot.withLock { slot in
            ingest(body, options: options, loss: loss, nowMicros: nowMicros, allowance: allowance, into: &slot, index: start)
        }
    }

    /// Ingests into `slot` (number `index`), whose lock the caller holds.
    private func ingest(_ body: [UInt8], options: DrainOptions, loss: DrainLoss, nowMicros: Int64,
                        allowance: ValueAllowance, into slot: inout Slot, index: Int) -> IngestCounts? {
        if slot.closed { return nil }
        var counts = slot.register.ingest(body, options: options, nowMicros: nowMicros, allowance: allowance)
        if !loss.isEmpty { counts.measurements += slot.register.add(loss, options: options, nowMicros: nowMicros) }
        slots[index].bytes.store(slot.register.approximateBytes, ordering: .relaxed)
        return counts
    }

    /// Empties every register (and forgets series limits of intervals no drain can still write to).
    func takeAll() -> [(key: BucketKey, data: BucketData)] {
        // The longest resolution is an hour: older intervals of any drain are closed.
        limiter?.forget(before: WallClock.seconds() - Int64(deadline + 1) * 3600)
        var out: [(key: BucketKey, data: BucketData)] = []
        for slot in slots {
            let taken = slot.slot.withLock { $0.register.takeAll() }
            slot.bytes.store(0, ordering: .relaxed)
            out.append(contentsOf: taken)
        }
        return out
    }

    /// Refuses every later body. Returns once no body is being ingested, so a `takeAll()` after it
    /// has everything any `ingest` ever took.
    func close() {
        for slot in slots { slot.slot.withLock { $0.closed = true } }
    }

    /// Bytes held by the registers (approximate), as of the last body each took.
    var approximateBytes: Int {
        slots.reduce(0) { $0 + $1.bytes.load(ordering: .relaxed) }
    }
}
