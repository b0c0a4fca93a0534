import XCTest
@testable import L2metStore

/// The store behaviours against `MemoryStore`.
final class MemoryStoreTests: XCTestCase {
    /// Both handles of one test share one MemoryStore (one process).
    private func maker() -> StoreBehaviours.Make {
        var store: MemoryStore?
        return { partitions in
            if let store { return store }
            let s = MemoryStore(partitions: partitions)
            store = s
            return s
        }
    }

    func testFlushAndReadBack() throws { try StoreBehaviours.flushAndReadBack(maker()) }
    func testAppendsMerge() throws { try StoreBehaviours.appendsMerge(maker()) }
    func testBusyMeasurementsMerge() throws { try StoreBehaviours.busyMeasurementsMerge(maker()) }
    func testConcurrentClaimsHandOutEachBucketOnce() throws { try StoreBehaviours.concurrentClaimsHandOutEachBucketOnce(maker()) }
    func testUnacknowledgedClaimComesBackAfterLease() throws { try StoreBehaviours.unacknowledgedClaimComesBackAfterLease(maker()) }
    func testAcknowledgeDeletes() throws { try StoreBehaviours.acknowledgeDeletes(maker()) }
    func testReleaseGivesAClaimBackAtOnce() throws { try StoreBehaviours.releaseGivesAClaimBackAtOnce(maker()) }
    func testAppendIntoClaimedBucket() throws { try StoreBehaviours.appendIntoClaimedBucket(maker()) }
    func testRescheduleKeepsAttemptsAndBacklog() throws { try StoreBehaviours.rescheduleKeepsAttemptsAndBacklog(maker()) }
    func testABucketWhoseClaimsKeepExpiringIsSetAside() throws { try StoreBehaviours.aBucketWhoseClaimsKeepExpiringIsSetAside(maker()) }
    func testPartitionsSpreadKeys() throws { try StoreBehaviours.partitionsSpreadKeys(maker()) }
    func testLargeBatch() throws { try StoreBehaviours.largeBatch(maker()) }

    func testBucketCountFollowsAppendsAndAcknowledgements() throws {
        let store = MemoryStore()
        let k = StoreBehaviours.key("a")
        try store.append([(k, StoreBehaviours.data(.counter, [1]))], dueAt: StoreBehaviours.due)
        XCTAssertEqual(store.bucketCount, 1)
        _ = try store.claim(partition: 0, now: Int64.max / 2, limit: 10, lease: 10)
        XCTAssertEqual(store.bucketCount, 1, "a claimed bucket is still held until acknowledged")
        try store.acknowledge([k])
        XCTAssertEqual(store.bucketCount, 0)
    }
}
