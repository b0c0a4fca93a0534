import Foundation

/// The outlet's queue of deliveries, fair across destinations, with each destination's breaker and
/// in-flight count.
///
/// Invariants (all under one condition lock):
/// - deliveries wait in one FIFO per destination; `next` serves destinations in turn (round robin,
///   one request each), so one destination's backlog delays another's by at most one request per
///   destination ahead of it, never by its whole backlog;
/// - at most `perDestination` requests of one destination are in flight, and only one while it has
///   failed since its last success (so a hanging destination holds at most one sender);
/// - a destination whose breaker is open is never sent to: its queued deliveries are handed out
///   together as deferred, for the caller to put back in the store;
/// - `queuedBuckets` and `queuedBytes` count the buckets and memory of queued deliveries, which the
///   claimer keeps under `capacity` and `byteCapacity`;
///   one destination never holds more than `perDestinationCapacity` of them, so a slow destination's
///   backlog cannot fill the queue and keep the others' buckets from being claimed.
final class DeliveryScheduler: @unchecked Sendable {  // every stored property is guarded by `condition`
    /// What a sender does next.
    enum Work {
        case send(Delivery, probe: Bool)
        /// Not sent: the destination's breaker is open until `until` (epoch seconds).
        case deferred([Delivery], until: Double)
        case stop
    }

    /// How a sent delivery ended, for its destination's breaker.
    enum Outcome {
        /// Any answer that is not a transient failure (accepted, or refused for good).
        case answered
        /// A transient failure (no answer, time-out, 408, 429, 5xx); `retryAfter` when asked to pause.
        case failed(retryAfter: Double?)
        /// Never sent (its lease was too close): no news about the destination.
        case notSent
    }

    let capacity: Int
    let byteCapacity: Int
    let perDestinationCapacity: Int
    let perDestination: Int
    private let breakerTemplate: CircuitBreaker
    private let clock: @Sendable () -> Double
    private let condition = NSCondition()
    private var queues: [DestinationID: [Delivery]] = [:]
    /// Destinations with queued deliveries, in serving order from `cursor`.
    private var ring: [DestinationID] = []
    private var cursor = 0
    private var inFlight: [DestinationID: Int] = [:]
    private var breakers: [DestinationID: CircuitBreaker] = [:]
    private var queued = 0
    private var bytes = 0
    private var queuedOf: [DestinationID: Int] = [:]

    init(capacity: Int, byteCapacity: Int = .max, perDestination: Int, breaker: CircuitBreaker,
         clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        self.capacity = max(1, capacity)
        self.byteCapacity = max(1, byteCapacity)
        perDestinationCapacity = max(1, self.capacity / 4)
        self.perDestination = max(1, perDestination)
        breakerTemplate = breaker
        self.clock = clock
    }

    /// Buckets waiting in the queue.
    var queuedBuckets: Int { condition.withLock { queued } }

    /// Memory held by queued deliveries (about).
    var queuedBytes: Int { condition.withLock { bytes } }

    /// Buckets the claimer may still claim: none once the queue is full by count or by bytes.
    var room: Int { condition.withLock { bytes >= byteCapacity ? 0 : max(0, capacity - queued) } }

    /// Destinations whose breaker is open or probing.
    var openBreakers: Int { condition.withLock { breakers.values.filter(\.isOpen).count } }

    /// Adds deliveries at the back of their destinations' queues (at the front with `first`: parts of
    /// a request being split, served before the rest, always taken). Returns the deliveries not taken
    /// because their destination already holds `perDestinationCapacity` buckets in the queue.
    @discardableResult
    func enqueue(_ deliveries: [Delivery], first: Bool = false) -> [Delivery] {
        guard !deliveries.isEmpty else { return [] }
        return condition.withLock {
            var refused: [Delivery] = []
            for d in (first ? deliveries.reversed() : deliveries) {
                if !first && queuedOf[d.id, default: 0] >= perDestinationCapacity {
                    refused.append(d)
                    continue
                }
                if queues[d.id] == nil {
                    queues[d.id] = []
                    ring.append(d.id)
                }
                if first { queues[d.id]!.insert(d, at: 0) } else { queues[d.id]!.append(d) }
                queued += d.buckets.count
                bytes += d.bytes
                queuedOf[d.id, default: 0] += d.buckets.count
            }
            condition.broadcast()
            return refused
        }
    }

    /// The next work, waiting for some when none can start (every queue empty, or its destination at
    /// its in-flight bound); `.stop` as soon as `stopping()` is true.
    func next(stopping: () -> Bool) -> Work {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if stopping() { return .stop }
            let now = clock()
            var step = 0
            while step < ring.count {
                let index = (cursor + step) % ring.count
                let id = ring[index]
                var breaker = breakers[id] ?? breakerTemplate
                switch breaker.admit(now: now) {
                case .deferUntil(let until):
                    breakers[id] = breaker
                    let all = removeQueue(at: index)
                    return .deferred(all, until: until)
                case .send:
                    let bound = breaker.consecutiveFailures > 0 ? 1 : perDestination
                    if inFlight[id, default: 0] >= bound {
                        step += 1
                        continue
                    }
                    return .send(pop(at: index), probe: false)
                case .probe:
                    breakers[id] = breaker
                    return .send(pop(at: index), probe: true)
                }
            }
            _ = condition.wait(until: Date(timeIntervalSinceNow: 0.25))
        }
    }

    /// Reports the end of a delivery `next` handed out as `.send`; returns whether its destination's
    /// breaker was open before and is open now.
    @discardableResult
    func finished(_ d: Delivery, probe: Bool, outcome: Outcome) -> (wasOpen: Bool, isOpen: Bool) {
        condition.withLock {
            inFlight[d.id, default: 1] -= 1
            if inFlight[d.id]! <= 0 { inFlight[d.id] = nil }
            var breaker = breakers[d.id] ?? breakerTemplate
            let wasOpen = breaker.isOpen
            switch outcome {
            case .answered: breaker.record(success: true, now: clock())
            case .failed(let retryAfter): breaker.record(success: false, retryAfter: retryAfter, now: clock())
            case .notSent: if probe { breaker.cancelProbe() }
            }
            // A healthy, idle destination needs no entry: the map stays as small as the trouble.
            if breaker == breakerTemplate && inFlight[d.id] == nil {
                breakers[d.id] = nil
            } else {
                breakers[d.id] = breaker
            }
            condition.broadcast()
            return (wasOpen, breaker.isOpen)
        }
    }

    /// Takes every queued delivery of one destination out (its account was refused).
    func removeAll(of id: DestinationID) -> [Delivery] {
        condition.withLock {
            guard let index = ring.firstIndex(of: id) else { return [] }
            return removeQueue(at: index)
        }
    }

    /// Takes every queued delivery out (the outlet is stopping).
    func removeAll() -> [Delivery] {
        condition.withLock {
            var all: [Delivery] = []
            while !ring.isEmpty { all += removeQueue(at: 0) }
            return all
        }
    }

    /// Wakes every waiting sender (to see a stop).
    func wake() {
        condition.withLock { condition.broadcast() }
    }

    // Both below: with the lock held.

    private func pop(at index: Int) -> Delivery {
        let id = ring[index]
        let d = queues[id]!.removeFirst()
        queued -= d.buckets.count
        bytes -= d.bytes
        queuedOf[id]! -= d.buckets.count
        if queuedOf[id]! <= 0 { queuedOf[id] = nil }
        inFlight[id, default: 0] += 1
        if queues[id]!.isEmpty {
            queues[id] = nil
            ring.remove(at: index)
            cursor = ring.isEmpty ? 0 : index % ring.count
        } else {
            cursor = (index + 1) % ring.count
        }
        return d
    }

    private func removeQueue(at index: Int) -> [Delivery] {
        let id = ring.remove(at: index)
        let all = queues.removeValue(forKey: id) ?? []
        queued -= all.reduce(0) { $0 + $1.buckets.count }
        bytes -= all.reduce(0) { $0 + $1.bytes }
        queuedOf[id] = nil
        cursor = ring.isEmpty ? 0 : index % ring.count
        return all
    }
}
