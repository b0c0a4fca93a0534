import Foundation
import L2metCore
import L2metObservability
@testable import L2metServer
import L2metStore
import Logging
import XCTest

/// The flusher's chunks: each written on its own, a failed one kept with its id, buckets refused for
/// the moment kept under a new id, buckets refused for good dropped and counted.
final class FlusherChunkTests: XCTestCase {
    /// A store that answers each append as `answer` says, and records what it was sent.
    final class ScriptedStore: Store, @unchecked Sendable {
        let partitions = 1
        private let lock = NSLock()
        private(set) var calls: [(id: String, keys: [BucketKey], data: [BucketData])] = []
        /// Call number (from 0) and batch -> refusals, or throws.
        var answer: (Int, [(key: BucketKey, data: BucketData)]) throws -> [AppendRefusal] = { _, _ in [] }

        func appendReporting(_ batch: [(key: BucketKey, data: BucketData)], flushID: String?,
                             dueAt: (BucketKey) -> Int64) throws -> [AppendRefusal] {
            lock.lock()
            let n = calls.count
            calls.append((flushID ?? "", batch.map(\.key), batch.map(\.data)))
            lock.unlock()
            return try answer(n, batch)
        }
        func append(_ batch: [(key: BucketKey, data: BucketData)], flushID: String?, dueAt: (BucketKey) -> Int64) throws {
            _ = try appendReporting(batch, flushID: flushID, dueAt: dueAt)
        }
        func claim(partition: Int, now: Int64, limit: Int, lease: Int64, claimID: String?) throws -> [ClaimedBucket] { [] }
        func reschedule(_ keys: [BucketKey], leaseEnd: Int64, dueAt: Int64, because reason: RescheduleReason) throws {}
        func backlog(now: Int64) throws -> StoreBacklog { StoreBacklog() }
        func acknowledge(_ keys: [BucketKey]) throws {}
        func ping() throws {}
    }

    private let metrics = MetricsRegistry()
    private let registers = RegisterPool(count: 1, deadline: 2)

    private func flusher(_ store: Store, failureLimit: Double = 30) -> Flusher {
        Flusher(registers: registers, store: store, interval: 1, deadline: 2, memoryLimit: 1 << 30, flushBytes: 1 << 30,
                failureLimit: failureLimit, metrics: metrics, logger: Logger(label: "test"))
    }

    /// Takes `lines` (log texts) into the registers, stamped now.
    private func ingest(_ lines: [String]) {
        let now = Date().timeIntervalSince1970
        let body = lines.map { Drain.frame($0, at: now) }.joined()
        _ = registers.ingest(Array(body.utf8), options: DrainOptions(token: "tok"), nowMicros: Int64(now * 1_000_000))
    }

    private func metric(_ series: String) -> Double {
        let line = metrics.render().split(separator: "\n").first { $0.hasPrefix(series + " ") }
        return line.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
    }

    func testABatchGoesInChunksOfAtMostAThousandBuckets() {
        let store = ScriptedStore()
        let f = flusher(store)
        ingest((0..<2500).map { "count#c\($0)=1" })
        XCTAssertTrue(f.flush())
        XCTAssertEqual(store.calls.map(\.keys.count), [1000, 1000, 500])
        XCTAssertEqual(Set(store.calls.map(\.id)).count, 3, "each chunk under an id of its own")
        XCTAssertEqual(metric("l2met_flushed_buckets_total"), 2500)
        XCTAssertNil(f.failing)
    }

    /// A lost reply: that chunk is sent again as it was, under its id, before anything else.
    func testAFailedChunkIsKeptWithItsIdAndTheRestWaits() {
        let store = ScriptedStore()
        store.answer = { n, _ in if n == 1 { throw StoreError.unavailable("reply lost") }; return [] }
        let f = flusher(store, failureLimit: 0)
        ingest((0..<2500).map { "count#c\($0)=1" })
        XCTAssertFalse(f.flush())
        XCTAssertEqual(store.calls.count, 2, "the chunks after a failed one wait")
        XCTAssertNotNil(f.failure, "failing, past a limit of 0 s")
        XCTAssertEqual(metric("l2met_buckets"), 1500)
        ingest(["count#later=1"])
        XCTAssertTrue(f.flush())
        XCTAssertEqual(store.calls.count, 5)
        XCTAssertEqual(store.calls[2].id, store.calls[1].id)
        XCTAssertEqual(store.calls[2].keys, store.calls[1].keys, "unchanged, in the same order")
        XCTAssertEqual(store.calls[3].keys.count, 500)
        XCTAssertEqual(store.calls[4].keys.map(\.name), ["later"], "new data only after the held chunks")
        XCTAssertNil(f.failing)
        XCTAssertEqual(metric("l2met_buckets"), 0)
    }

    /// Out of memory for some buckets: those alone are kept, under a new id (they were not applied).
    func testBucketsRefusedForTheMomentAreKeptUnderANewId() {
        let store = ScriptedStore()
        store.answer = { n, batch in
            n == 0 ? [1, 3].map { AppendRefusal(index: $0, error: "OOM command not allowed when used memory > 'maxmemory'.") } : []
        }
        let f = flusher(store)
        ingest((0..<5).map { "count#c\($0)=1" })
        XCTAssertFalse(f.flush())
        XCTAssertNotNil(f.failing)
        XCTAssertNil(f.failure, "not past the limit yet")
        XCTAssertTrue(f.flush())
        XCTAssertEqual(store.calls.count, 2)
        XCTAssertNotEqual(store.calls[1].id, store.calls[0].id)
        XCTAssertEqual(store.calls[1].keys, [store.calls[0].keys[1], store.calls[0].keys[3]])
        XCTAssertEqual(metric("l2met_flushed_buckets_total"), 5)
    }

    /// Too large for Redis: dropped and counted, bucket and values; the rest is written.
    func testBucketsRefusedForGoodAreDroppedAndCounted() {
        let store = ScriptedStore()
        store.answer = { _, batch in
            batch.indices.filter { batch[$0].key.name == "hot" }
                .map { AppendRefusal(index: $0, error: "ERR string exceeds maximum allowed size (proto-max-bulk-len)") }
        }
        let f = flusher(store)
        ingest(["measure#hot=1 measure#hot=2 measure#hot=3", "count#quiet=1"])
        XCTAssertTrue(f.flush(), "nothing is held for a bucket that can never be stored")
        XCTAssertEqual(store.calls.count, 1)
        XCTAssertEqual(metric("l2met_store_refused_buckets_total{reason=\"too_large\"}"), 1)
        XCTAssertEqual(metric("l2met_store_refused_values_total{reason=\"too_large\"}"), 3)
        XCTAssertEqual(metric("l2met_flushed_buckets_total"), 1)
        XCTAssertNil(f.failing)
    }

    /// A hot measurement goes as one bounded record: exact up to 4,096 values, a sketch above.
    func testAHotMeasurementGoesAsOneBoundedRecord() {
        let store = ScriptedStore()
        let f = flusher(store)
        let line = (0..<100).map { "measure#hot=\($0)" }.joined(separator: " ")
        ingest(Array(repeating: line, count: 1000))  // 100,000 values
        XCTAssertTrue(f.flush())
        let records = store.calls.flatMap(\.data)
        XCTAssertEqual(records.count, 1)
        XCTAssertEqual(records.first?.count, 100_000)
        XCTAssertEqual(records.first?.sum, 1000 * (0..<100).reduce(0.0) { $0 + Double($1) })
        XCTAssertLessThanOrEqual(records.first.map { d -> Int in var out: [UInt8] = []; BucketCodec.encode(d, into: &out); return out.count } ?? .max,
                                 BucketCodec.maxSketchRecordSize)
    }
}
