import Foundation
import L2metCore
@testable import L2metServer
import L2metStore
import XCTest

/// `GET /health` never holds an HTTP thread on a store that does not answer.
final class StoreHealthTests: XCTestCase {
    /// A store whose ping blocks while `stalled` (a stopped Redis: connected, never answering).
    final class StallingStore: Store, @unchecked Sendable {
        let partitions = 1
        private let condition = NSCondition()
        private var stalled = false
        private var down = false
        private(set) var pings = 0

        func set(stalled: Bool, down: Bool = false) {
            condition.lock()
            self.stalled = stalled
            self.down = down
            condition.broadcast()
            condition.unlock()
        }

        func ping() throws {
            condition.lock()
            defer { condition.unlock() }
            pings += 1
            while stalled { condition.wait() }
            if down { throw StoreError.unavailable("down") }
        }

        var pingCount: Int {
            condition.lock()
            defer { condition.unlock() }
            return pings
        }

        func append(_ batch: [(key: BucketKey, data: BucketData)], flushID: String?, dueAt: (BucketKey) -> Int64) throws {}
        func claim(partition: Int, now: Int64, limit: Int, lease: Int64, claimID: String?) throws -> [ClaimedBucket] { [] }
        func reschedule(_ keys: [BucketKey], leaseEnd: Int64, dueAt: Int64, because reason: RescheduleReason) throws {}
        func backlog(now: Int64) throws -> StoreBacklog { StoreBacklog() }
        func acknowledge(_ keys: [BucketKey]) throws {}
    }

    private func timed(_ body: () -> Bool) -> (Bool, Double) {
        let start = Date()
        let result = body()
        return (result, Date().timeIntervalSince(start))
    }

    /// Before: every /health pinged the store on the HTTP thread that got it; with a stopped Redis
    /// each took 20 s (two command time-outs), and eight of them stopped both workers' drains.
    func testAStalledStoreCostsAHealthCheckAtMostMaxWait() {
        let store = StallingStore()
        let health = StoreHealth(store: store, interval: 0.2, maxWait: 0.3)
        XCTAssertTrue(health.isHealthy())

        store.set(stalled: true)
        Thread.sleep(forTimeInterval: 0.25)
        let (first, firstTime) = timed { health.isHealthy() }
        XCTAssertFalse(first, "a ping that does not come back within maxWait is unhealthy")
        XCTAssertLessThan(firstTime, 2)
        // While the ping hangs, checks answer at once and start no other ping.
        for _ in 0..<50 {
            let (ok, time) = timed { health.isHealthy() }
            XCTAssertFalse(ok)
            XCTAssertLessThan(time, 0.1)
        }
        XCTAssertEqual(store.pingCount, 2)

        // A store that refuses at once is unhealthy; one that answers again is healthy again.
        store.set(stalled: false, down: true)
        var end = Date().addingTimeInterval(10)
        while health.isHealthy() == false && store.pingCount < 3 && Date() < end { Thread.sleep(forTimeInterval: 0.05) }
        XCTAssertFalse(health.isHealthy())
        store.set(stalled: false, down: false)
        end = Date().addingTimeInterval(10)
        while !health.isHealthy() && Date() < end { Thread.sleep(forTimeInterval: 0.05) }
        XCTAssertTrue(health.isHealthy())
        // At most one ping per interval however often /health is asked.
        let before = store.pingCount
        for _ in 0..<200 { _ = health.isHealthy() }
        XCTAssertLessThanOrEqual(store.pingCount - before, 1)
    }
}
