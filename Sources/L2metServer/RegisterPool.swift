import Foundation
import L2metCore

/// A few aggregation registers, each behind its own lock, so that HTTP worker threads ingesting at
/// the same time rarely wait for each other. The flusher empties them all.
final class RegisterPool: @unchecked Sendable {
    private final class Slot {
        let lock = NSLock()
        let register: Register
        init(deadline: Int) { register = Register(deadline: deadline) }
    }

    private let slots: [Slot]
    private let next = NSLock()
    private var cursor = 0

    init(count: Int, deadline: Int) {
        slots = (0..<max(1, count)).map { _ in Slot(deadline: deadline) }
    }

    /// Parses `body` into one of the registers.
    func ingest(_ body: [UInt8], options: DrainOptions, nowMicros: Int64) -> IngestCounts {
        // Take the first free slot, starting from a rotating position; wait on one if all are busy.
        next.lock()
        let start = cursor
        cursor = (cursor + 1) % slots.count
        next.unlock()
        for i in 0..<slots.count {
            let slot = slots[(start + i) % slots.count]
            if slot.lock.try() {
                defer { slot.lock.unlock() }
                return slot.register.ingest(body, options: options, nowMicros: nowMicros)
            }
        }
        let slot = slots[start]
        slot.lock.lock()
        defer { slot.lock.unlock() }
        return slot.register.ingest(body, options: options, nowMicros: nowMicros)
    }

    /// Empties every register.
    func takeAll() -> [(key: BucketKey, data: BucketData)] {
        var out: [(key: BucketKey, data: BucketData)] = []
        for slot in slots {
            slot.lock.lock()
            out.append(contentsOf: slot.register.takeAll())
            slot.lock.unlock()
        }
        return out
    }

    /// Bytes held by the registers (approximate).
    var approximateBytes: Int {
        slots.reduce(0) { total, slot in
            slot.lock.lock()
            defer { slot.lock.unlock() }
            return total + slot.register.approximateBytes
        }
    }

    /// Buckets held by the registers.
    var bucketCount: Int {
        slots.reduce(0) { total, slot in
            slot.lock.lock()
            defer { slot.lock.unlock() }
            return total + slot.register.bucketCount
        }
    }
}
