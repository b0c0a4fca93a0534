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
    func testHeldBytesFollowAppendsClaimsAndAcknowledgements() throws {
        try StoreBehaviours.heldBytesFollowAppendsClaimsAndAcknowledgements(maker())
    }

    /// The record size counted without encoding is the encoded size, for every kind and layout.
    func testRecordSizeIsTheEncodedSize() {
        for d in [StoreBehaviours.data(.counter, [1, 2]), StoreBehaviours.data(.sample, [3]),
                  StoreBehaviours.data(.measurement, [1, 2, 3]), StoreBehaviours.data(.measurement, []),
                  StoreBehaviours.data(.measurement, (0..<5_000).map { Double($0) * 1.5 - 100 })] {
            XCTAssertEqual(MemoryStore.recordSize(d), StoreBehaviours.recordSize(d), "\(d.kind)")
        }
    }

    /// A bucket set aside stays in memory (nothing expires here), so its bytes stay held.
    func testSetAsideBucketsStayHeld() throws {
        let store = MemoryStore()
        try StoreBehaviours.aBucketWhoseClaimsKeepExpiringIsSetAside { _ in store }
        let poison = StoreBehaviours.data(.counter, [1])
        XCTAssertEqual(try store.heldBytes(tokens: ["tok"], now: StoreBehaviours.t0), ["tok": StoreBehaviours.recordSize(poison)])
    }

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
