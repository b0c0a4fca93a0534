import Foundation
import L2metCore
import L2metStore
import Synchronization
import XCTest
@testable import L2metOutlet

/// The breaker's state machine and the scheduler's fairness, bounds and deferrals, on a fake clock.
final class DeliverySchedulerTests: XCTestCase {
    final class FakeClock: Sendable {
        private let t = Mutex(ContinuousClock.now)
        var now: ContinuousClock.Instant { t.withLock { $0 } }
        func advance(_ s: Double) { t.withLock { $0 += .seconds(s) } }
    }

    func delivery(_ user: String, _ n: Int, buckets: Int = 1) -> Delivery {
        let destination = Destination.librato(user: user, token: "t-\(user)", url: nil)
        let claimed = (0..<buckets).map { i in
            ClaimedBucket(key: BucketKey(token: user, name: "m\(n).\(i)", source: "", kind: .counter, units: "",
                                         resolution: 60, time: 0), data: BucketData(kind: .counter))
        }
        let request = SinkRequest(url: "http://x", headers: [], body: [], keys: claimed.map(\.key), itemCount: buckets, oldestEnd: 60)
        return Delivery(request: request, buckets: claimed, destination: destination, id: DestinationID(destination), leaseEnd: 10_000)
    }

    func testBreakerOpensAfterTheThresholdDoublesAndClosesOnAProbe() {
        var b = CircuitBreaker(threshold: 3, baseOpen: 2, maxOpen: 10)
        XCTAssertEqual(b.admit(now: 0), .send)
        b.record(success: false, now: 0)
        b.record(success: false, now: 0)
        XCTAssertFalse(b.isOpen)
        b.record(success: false, now: 1)
        XCTAssertEqual(b.state, .open(until: 3))
        XCTAssertEqual(b.admit(now: 2), .deferUntil(3))
        XCTAssertEqual(b.admit(now: 3), .probe)
        XCTAssertEqual(b.admit(now: 3), .deferUntil(5), "one probe at a time")
        b.record(success: false, now: 4)
        XCTAssertEqual(b.state, .open(until: 8), "a failed probe opens it for twice as long")
        XCTAssertEqual(b.admit(now: 8), .probe)
        b.record(success: false, now: 8)
        XCTAssertEqual(b.state, .open(until: 16))
        _ = b.admit(now: 16)
        b.record(success: false, now: 16)
        XCTAssertEqual(b.state, .open(until: 26), "capped at maxOpen")
        _ = b.admit(now: 26)
        b.record(success: true, now: 26)
        XCTAssertEqual(b, CircuitBreaker(threshold: 3, baseOpen: 2, maxOpen: 10), "a success forgets everything")
        b.record(success: false, retryAfter: 7, now: 30)
        XCTAssertEqual(b.state, .open(until: 37), "Retry-After pauses the destination at once")
        _ = b.admit(now: 40)
        b.cancelProbe()
        XCTAssertEqual(b.admit(now: 40), .probe, "a probe never sent is not waited for")
    }

    func testDestinationsAreServedInTurn() {
        let s = DeliveryScheduler(capacity: 1000, perDestination: 10, breaker: CircuitBreaker())
        s.enqueue((0..<5).map { delivery("busy", $0) })
        s.enqueue([delivery("quiet", 0)])
        var order: [String] = []
        for _ in 0..<6 {
            guard case let .send(d, _) = s.next(stopping: { false }) else { return XCTFail("no work") }
            order.append(d.destination.loggableName)
            s.finished(d, probe: false, outcome: .answered)
        }
        XCTAssertEqual(order.prefix(2).sorted(), ["busy", "quiet"], "the quiet destination waits for one request, not five: \(order)")
        XCTAssertEqual(s.queuedBuckets, 0)
    }

    func testAFailingDestinationHasOneRequestInFlightAndAnOpenOneIsDeferred() {
        let clock = FakeClock()
        let s = DeliveryScheduler(capacity: 1000, perDestination: 2, breaker: CircuitBreaker(threshold: 2, baseOpen: 5, maxOpen: 60),
                                  clock: { clock.now })
        s.enqueue((0..<4).map { delivery("down", $0) })
        guard case let .send(a, _) = s.next(stopping: { false }), case let .send(b, _) = s.next(stopping: { false }) else {
            return XCTFail("two requests may be in flight while the destination is healthy")
        }
        s.finished(a, probe: false, outcome: .failed(retryAfter: nil))
        // One failure: one request in flight at a time, and b still is: nothing can start (the
        // scheduler looks once, waits, then sees the stop).
        var looks = 0
        guard case .stop = s.next(stopping: { looks += 1; return looks > 1 }) else {
            return XCTFail("a failing destination may have only one request in flight")
        }
        s.finished(b, probe: false, outcome: .failed(retryAfter: nil))
        XCTAssertEqual(s.openBreakers, 1)
        guard case let .deferred(rest, until) = s.next(stopping: { false }) else { return XCTFail("an open breaker defers") }
        XCTAssertEqual(rest.count, 2)
        XCTAssertEqual(until, clock.now + .seconds(5))
        XCTAssertEqual(s.queuedBuckets, 0)
        clock.advance(5)
        s.enqueue([delivery("down", 9)])
        guard case let .send(_, probe) = s.next(stopping: { false }) else { return XCTFail("the probe goes") }
        XCTAssertTrue(probe)
    }

    func testOneDestinationCannotFillTheQueue() {
        let s = DeliveryScheduler(capacity: 400, perDestination: 2, breaker: CircuitBreaker())
        let refused = s.enqueue((0..<3).map { delivery("flood", $0, buckets: 50) })
        XCTAssertEqual(refused.count, 1, "a quarter of the capacity (100 buckets) per destination")
        XCTAssertEqual(s.enqueue([delivery("other", 0, buckets: 50)]).count, 0)
        XCTAssertEqual(s.queuedBuckets, 150)
        XCTAssertEqual(s.removeAll(of: DestinationID(.librato(user: "flood", token: "t-flood", url: nil))).count, 2)
        XCTAssertEqual(s.queuedBuckets, 50)
        XCTAssertEqual(s.enqueue((0..<2).map { delivery("flood", $0, buckets: 50) }).count, 0, "room again once sent or removed")
    }
}

extension DeliverySchedulerTests {
    func testTheQueueIsBoundedByBytesToo() {
        let s = DeliveryScheduler(capacity: 1000, byteCapacity: 2_000, perDestination: 2, breaker: CircuitBreaker())
        XCTAssertEqual(s.room, 1000)
        s.enqueue([delivery("a", 0, buckets: 10)])
        XCTAssertGreaterThan(s.queuedBytes, 1_000)
        s.enqueue([delivery("b", 0, buckets: 10)])
        XCTAssertGreaterThanOrEqual(s.queuedBytes, 2_000)
        XCTAssertEqual(s.room, 0, "full by bytes with 20 of 1,000 buckets")
        guard case let .send(d, _) = s.next(stopping: { false }) else { return XCTFail("no work") }
        s.finished(d, probe: false, outcome: .answered)
        XCTAssertEqual(s.room, 990)
    }
}
