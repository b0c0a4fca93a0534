import Foundation
import L2metCore
import Synchronization

/// A `FrameLedger` in this process's memory, for the in-memory store (one receiver). Thread-safe (one
/// mutex).
///
/// Invariant: at most `capacity` markers are held; markers past their expiry are never reported and
/// are dropped oldest first. When more than `capacity` bodies arrive within a window, the oldest
/// markers go early (their bodies could then be counted again if re-sent).
public final class MemoryFrameLedger: FrameLedger, Sendable {
    public let window: Int
    public let capacity: Int
    private let pendingTTL: Int64
    private let now: @Sendable () -> Int64

    /// One marker: its state, when it expires (epoch seconds) and which entry of `order` is its latest.
    private struct Mark {
        var done: Bool
        var expires: Int64
        var serial: UInt64
    }

    /// The markers and the order they were written in.
    private struct Ledger {
        var marks: [FrameKey: Mark] = [:]
        /// Markers in the order they were written; an entry whose serial is not its marker's is stale.
        var order: [(key: FrameKey, serial: UInt64)] = []
        var head = 0
        var serial: UInt64 = 0

        mutating func write(_ key: FrameKey, done: Bool, expires: Int64) {
            serial &+= 1
            marks[key] = Mark(done: done, expires: expires, serial: serial)
            order.append((key, serial))
        }

        /// Drops stale and expired entries from the front of `order`, then the oldest markers while
        /// more than `capacity` are held (or `order` holds more than twice that, stale entries included).
        mutating func trim(at t: Int64, capacity: Int) {
            while head < order.count {
                let entry = order[head]
                guard let m = marks[entry.key], m.serial == entry.serial else {
                    head += 1
                    continue
                }
                let full = marks.count > capacity || order.count - head > 2 * capacity
                guard full || m.expires <= t else { break }
                marks[entry.key] = nil
                head += 1
            }
            if head > 1024, head * 2 > order.count {
                order.removeFirst(head)
                head = 0
            }
        }
    }

    private let ledger = Mutex(Ledger())

    /// - Parameters:
    ///   - now: epoch seconds (tests pass their own clock).
    public init(window: Int, capacity: Int = 100_000, pendingLease: Int = FrameLedgerDefaults.pendingLease,
                now: @escaping @Sendable () -> Int64 = { WallClock.seconds() }) {
        self.window = max(1, window)
        self.capacity = max(1, capacity)
        pendingTTL = Int64(max(1, min(self.window, pendingLease)))
        self.now = now
    }

    /// Markers held, expired or not (tests).
    public var count: Int { ledger.withLock { $0.marks.count } }

    public func begin(_ key: FrameKey) throws -> FrameStart {
        let t = now()
        return ledger.withLock { ledger in
            if let m = ledger.marks[key], m.expires > t { return m.done ? .done : .pending }
            ledger.write(key, done: false, expires: t + pendingTTL)
            ledger.trim(at: t, capacity: capacity)
            return .started
        }
    }

    public func finish(_ key: FrameKey) throws {
        let t = now()
        ledger.withLock { ledger in
            // A marker dropped meanwhile (expired, or pushed out by `capacity`) is written again: the body was taken.
            ledger.write(key, done: true, expires: t + Int64(window))
            ledger.trim(at: t, capacity: capacity)
        }
    }

    public func release(_ key: FrameKey) throws {
        ledger.withLock { _ = $0.marks.removeValue(forKey: key) }
    }
}
