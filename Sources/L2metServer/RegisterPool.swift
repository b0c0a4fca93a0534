import Foundation
import L2metCore

/// A few aggregation registers, each behind its own lock, so that HTTP worker threads ingesting at
/// the same time rarely wait for each other. The flusher empties them all.
///
/// What each register holds is also kept aside, under a lock of its own, so the per-request
/// overload check and the flusher's size check never wait behind a body being ingested.
///
/// At shutdown the pool is closed before its last flush: a body still being ingested then (a request
/// the HTTP server's grace period left running) is refused instead of landing in a register that is
/// never flushed again.
final class RegisterPool: @unchecked Sendable {
    private final class Slot {
        let lock = NSLock()
        let register: Register
        /// Set under `lock` by `close()`: no more bodies.
        var closed = false
        init(deadline: Int, limiter: SeriesLimiter?) { register = Register(deadline: deadline, limiter: limiter) }
    }

    private let slots: [Slot]
    private let next = NSLock()
    private var cursor = 0
    private let sizeLock = NSLock()
    private var slotBytes: [Int]
    private let limiter: SeriesLimiter?
    private let deadline: Int

    /// - Parameter limiter: the drains' series limits, shared by the registers; nil: none.
    init(count: Int, deadline: Int, limiter: SeriesLimiter? = nil) {
        slots = (0..<max(1, count)).map { _ in Slot(deadline: deadline, limiter: limiter) }
        slotBytes = Array(repeating: 0, count: slots.count)
        self.limiter = limiter
        self.deadline = deadline
    }

    /// Parses `body` into one of the registers, with the drain's own loss report `loss` (counted in
    /// `measurements`); nil once the pool is closed (nothing was taken).
    func ingest(_ body: [UInt8], options: DrainOptions, loss: DrainLoss = DrainLoss(), nowMicros: Int64,
                allowance: ValueAllowance = .unlimited) -> IngestCounts? {
        // Take the first free slot, starting from a rotating position; wait on one if all are busy.
        next.lock()
        let start = cursor
        cursor = (cursor + 1) % slots.count
        next.unlock()
        for i in 0..<slots.count {
            let index = (start + i) % slots.count
            if slots[index].lock.try() {
                return ingest(body, options: options, loss: loss, nowMicros: nowMicros, allowance: allowance, lockedSlot: index)
            }
        }
        slots[start].lock.lock()
        return ingest(body, options: options, loss: loss, nowMicros: nowMicros, allowance: allowance, lockedSlot: start)
    }

    /// Ingests into slot `index`, whose lock the caller holds, and releases it.
    private func ingest(_ body: [UInt8], options: DrainOptions, loss: DrainLoss, nowMicros: Int64,
                        allowance: ValueAllowance, lockedSlot index: Int) -> IngestCounts? {
        let slot = slots[index]
        defer { slot.lock.unlock() }
        if slot.closed { return nil }
        var counts = slot.register.ingest(body, options: options, nowMicros: nowMicros, allowance: allowance)
        if !loss.isEmpty { counts.measurements += slot.register.add(loss, options: options, nowMicros: nowMicros) }
        setBytes(slot.register.approximateBytes, of: index)
        return counts
    }

    /// Empties every register (and forgets series limits of intervals no drain can still write to).
    func takeAll() -> [(key: BucketKey, data: BucketData)] {
        // The longest resolution is an hour: older intervals of any drain are closed.
        limiter?.forget(before: WallClock.seconds() - Int64(deadline + 1) * 3600)
        var out: [(key: BucketKey, data: BucketData)] = []
        for (index, slot) in slots.enumerated() {
            slot.lock.lock()
            out.append(contentsOf: slot.register.takeAll())
            setBytes(0, of: index)
            slot.lock.unlock()
        }
        return out
    }

    /// Refuses every later body. Returns once no body is being ingested, so a `takeAll()` after it
    /// has everything any `ingest` ever took.
    func close() {
        for slot in slots {
            slot.lock.lock()
            slot.closed = true
            slot.lock.unlock()
        }
    }

    /// Bytes held by the registers (approximate), as of the last body each took.
    var approximateBytes: Int {
        sizeLock.lock()
        defer { sizeLock.unlock() }
        return slotBytes.reduce(0, +)
    }

    private func setBytes(_ bytes: Int, of index: Int) {
        sizeLock.lock()
        slotBytes[index] = bytes
        sizeLock.unlock()
    }
}
