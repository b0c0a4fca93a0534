import Synchronization

/// The outlet's queue of deliveries, fair across destinations, with each destination's breaker and
/// in-flight count.
///
/// Invariants (all of `State`, under one `Mutex`):
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
final class DeliveryScheduler: Sendable {
    /// What a sender does next.
    enum Work {
        case send(Delivery, probe: Bool)
        /// Not sent: the destination's breaker is open until `until` (for the caller to turn into a due
        /// time in the store: `WallClock.epochSeconds(at:)`).
        case deferred([Delivery], until: ContinuousClock.Instant)
        case stop
    }

    /// How a sent delivery ended, for its destination's breaker.
    enum Outcome {
        /// Any answer that is not a transient failure (accepted, or refused for good).
        case answered
        /// A transient failure (no answer, time-out, 408, 429, 5xx); `retryAfter` (seconds) when asked to pause.
        case failed(retryAfter: Double?)
        /// Never sent (its lease was too close): no news about the destination.
        case notSent
    }

    let capacity: Int
    let byteCapacity: Int
    let perDestinationCapacity: Int
    let perDestination: Int
    private let breakerTemplate: CircuitBreaker
    /// The breakers' clock: they count seconds since `origin` on it (monotonic; tests inject their own).
    private let clock: @Sendable () -> ContinuousClock.Instant
    private let origin: ContinuousClock.Instant
    private let state = Mutex(State())
    /// Senders wait here for work (see `next`): the queues live in `state`, this only wakes them.
    private let wakeup = Wakeup()

    /// Everything that changes, behind `state`'s lock.
    private struct State {
        var queues: [DestinationID: [Delivery]] = [:]
        /// Destinations with queued deliveries, in serving order from `cursor`.
        var ring: [DestinationID] = []
        var cursor = 0
        var inFlight: [DestinationID: Int] = [:]
        var breakers: [DestinationID: CircuitBreaker] = [:]
        var queued = 0
        var bytes = 0
        var queuedOf: [DestinationID: Int] = [:]

        mutating func pop(at index: Int) -> Delivery {
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

        mutating func removeQueue(at index: Int) -> [Delivery] {
            let id = ring.remove(at: index)
            let all = queues.removeValue(forKey: id) ?? []
            queued -= all.reduce(0) { $0 + $1.buckets.count }
            bytes -= all.reduce(0) { $0 + $1.bytes }
            queuedOf[id] = nil
            cursor = ring.isEmpty ? 0 : index % ring.count
            return all
        }
    }

    init(capacity: Int, byteCapacity: Int = .max, perDestination: Int, breaker: CircuitBreaker,
         clock: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }) {
        self.capacity = max(1, capacity)
        self.byteCapacity = max(1, byteCapacity)
        perDestinationCapacity = max(1, self.capacity / 4)
        self.perDestination = max(1, perDestination)
        breakerTemplate = breaker
        self.clock = clock
        origin = clock()
    }

    /// Buckets waiting in the queue.
    var queuedBuckets: Int { state.withLock { $0.queued } }

    /// Memory held by queued deliveries (about).
    var queuedBytes: Int { state.withLock { $0.bytes } }

    /// Buckets the claimer may still claim: none once the queue is full by count or by bytes.
    var room: Int {
        state.withLock { s in s.bytes >= byteCapacity ? 0 : max(0, capacity - s.queued) }
    }

    /// Destinations whose breaker is open or probing.
    var openBreakers: Int { state.withLock { $0.breakers.values.filter(\.isOpen).count } }

    /// Adds deliveries at the back of their destinations' queues (at the front with `first`: parts of
    /// a request being split, served before the rest, always taken). Returns the deliveries not taken
    /// because their destination already holds `perDestinationCapacity` buckets in the queue.
    @discardableResult
    func enqueue(_ deliveries: [Delivery], first: Bool = false) -> [Delivery] {
        guard !deliveries.isEmpty else { return [] }
        let refused = state.withLock { s in
            var refused: [Delivery] = []
            for d in (first ? deliveries.reversed() : deliveries) {
                if !first && s.queuedOf[d.id, default: 0] >= perDestinationCapacity {
                    refused.append(d)
                    continue
                }
                if s.queues[d.id] == nil {
                    s.queues[d.id] = []
                    s.ring.append(d.id)
                }
                if first { s.queues[d.id]!.insert(d, at: 0) } else { s.queues[d.id]!.append(d) }
                s.queued += d.buckets.count
                s.bytes += d.bytes
                s.queuedOf[d.id, default: 0] += d.buckets.count
            }
            return refused
        }
        wakeup.notifyAll()
        return refused
    }

    /// The next work, waiting for some when none can start (every queue empty, or its destination at
    /// its in-flight bound); `.stop` as soon as `stopping()` is true.
    func next(stopping: () -> Bool) -> Work {
        while true {
            // The ticket before the look: a change after the look wakes the wait below.
            let ticket = wakeup.ticket()
            if stopping() { return .stop }
            let now = clock()
            if let work = state.withLock({ s in take(&s, now: now) }) { return work }
            wakeup.wait(ticket, until: ContinuousClock.now + .milliseconds(250))
        }
    }

    /// The work that can start now, destinations in turn from the cursor; nil when none can.
    private func take(_ s: inout State, now: ContinuousClock.Instant) -> Work? {
        let seconds = (now - origin).inSeconds
        var step = 0
        while step < s.ring.count {
            let index = (s.cursor + step) % s.ring.count
            let id = s.ring[index]
            var breaker = s.breakers[id] ?? breakerTemplate
            switch breaker.admit(now: seconds) {
            case .deferUntil(let until):
                s.breakers[id] = breaker
                let all = s.removeQueue(at: index)
                return .deferred(all, until: origin + .seconds(until))
            case .send:
                let bound = breaker.consecutiveFailures > 0 ? 1 : perDestination
                if s.inFlight[id, default: 0] >= bound {
                    step += 1
                    continue
                }
                return .send(s.pop(at: index), probe: false)
            case .probe:
                s.breakers[id] = breaker
                return .send(s.pop(at: index), probe: true)
            }
        }
        return nil
    }

    /// Reports the end of a delivery `next` handed out as `.send`; returns whether its destination's
    /// breaker was open before and is open now.
    @discardableResult
    func finished(_ d: Delivery, probe: Bool, outcome: Outcome) -> (wasOpen: Bool, isOpen: Bool) {
        let now = (clock() - origin).inSeconds
        let result = state.withLock { s in
            s.inFlight[d.id, default: 1] -= 1
            if s.inFlight[d.id]! <= 0 { s.inFlight[d.id] = nil }
            var breaker = s.breakers[d.id] ?? breakerTemplate
            let wasOpen = breaker.isOpen
            switch outcome {
            case .answered: breaker.record(success: true, now: now)
            case .failed(let retryAfter): breaker.record(success: false, retryAfter: retryAfter, now: now)
            case .notSent: if probe { breaker.cancelProbe() }
            }
            // A healthy, idle destination needs no entry: the map stays as small as the trouble.
            if breaker == breakerTemplate && s.inFlight[d.id] == nil {
                s.breakers[d.id] = nil
            } else {
                s.breakers[d.id] = breaker
            }
            return (wasOpen, breaker.isOpen)
        }
        wakeup.notifyAll()
        return result
    }

    /// Takes every queued delivery of one destination out (its account was refused).
    func removeAll(of id: DestinationID) -> [Delivery] {
        state.withLock { s in
            guard let index = s.ring.firstIndex(of: id) else { return [] }
            return s.removeQueue(at: index)
        }
    }

    /// Takes every queued delivery out (the outlet is stopping).
    func removeAll() -> [Delivery] {
        state.withLock { s in
            var all: [Delivery] = []
            while !s.ring.isEmpty { all += s.removeQueue(at: 0) }
            return all
        }
    }

    /// Wakes every waiting sender (to see a stop).
    func wake() {
        wakeup.notifyAll()
    }
}
