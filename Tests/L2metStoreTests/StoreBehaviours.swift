import Foundation
import L2metCore
import XCTest
@testable import L2metStore

/// The behaviour every `Store` must have, written once and run against `MemoryStore` and
/// `RedisStore` (see MemoryStoreTests and RedisStoreTests). `make(partitions)` gives an empty store;
/// called twice it gives two handles on the same data (two "processes" for Redis).
enum StoreBehaviours {
    typealias Make = (_ partitions: Int) throws -> Store

    static let t0: Int64 = 1_700_000_040  // a multiple of 60

    static func key(_ name: String, kind: MetricKind = .counter, source: String = "web.1", time: Int64 = t0,
                    token: String = "tok") -> BucketKey {
        BucketKey(token: token, name: name, source: source, kind: kind, units: kind == .measurement ? "ms" : "",
                  resolution: 60, time: time)
    }

    static func data(_ kind: MetricKind, _ values: [Double], at timestamp: Int64 = t0 * 1_000_000) -> BucketData {
        var d = BucketData(kind: kind)
        for (i, v) in values.enumerated() { d.add(v, timestamp: timestamp + Int64(i)) }
        return d
    }

    static func due(_ k: BucketKey) -> Int64 { k.time + 130 }

    /// Claims everything, due or not, from every partition.
    static func claimAll(_ store: Store, lease: Int64 = 60) throws -> [ClaimedBucket] {
        var all: [ClaimedBucket] = []
        for p in 0..<store.partitions {
            all += try store.claim(partition: p, now: Int64.max / 2, limit: 1_000_000, lease: lease)
        }
        return all
    }

    static func flushAndReadBack(_ make: Make) throws {
        let store = try make(1)
        let batch: [(key: BucketKey, data: BucketData)] = [
            (key("hits"), data(.counter, [1, 2, 3])),
            (key("latency", kind: .measurement), data(.measurement, [5, 1, 9])),
            (key("rss", kind: .sample, source: ""), data(.sample, [21.5, 22.25])),
        ]
        try store.append(batch, dueAt: due)
        XCTAssertEqual(try store.claim(partition: 0, now: t0 + 129, limit: 100, lease: 60).count, 0,
                       "nothing is due before its due time")
        let claimed = try store.claim(partition: 0, now: t0 + 130, limit: 100, lease: 60)
        XCTAssertEqual(claimed.count, 3)
        for (k, d) in batch {
            let got = claimed.first { $0.key == k }
            XCTAssertNotNil(got, "missing \(k)")
            XCTAssertEqual(got?.data, d, "data of \(k.name) changed on the way")
        }
    }

    static func appendsMerge(_ make: Make) throws {
        let store = try make(1)
        let c = key("hits"), m = key("latency", kind: .measurement), s = key("rss", kind: .sample)
        let ts = t0 * 1_000_000
        try store.append([(c, data(.counter, [1, 2])), (m, data(.measurement, [10, 20])),
                          (s, data(.sample, [5], at: ts + 500))], dueAt: due)
        // A second receiver's flush of the same buckets: the sample here is older, then newer.
        try store.append([(c, data(.counter, [4])), (m, data(.measurement, [30])),
                          (s, data(.sample, [7], at: ts + 100))], dueAt: due)
        let other = try make(1)
        try other.append([(s, data(.sample, [8], at: ts + 900))], dueAt: due)
        let claimed = try claimAll(store)
        XCTAssertEqual(claimed.count, 3)
        let counter = claimed.first { $0.key == c }?.data
        XCTAssertEqual(counter?.sum, 7)
        XCTAssertEqual(counter?.count, 3)
        XCTAssertEqual(claimed.first { $0.key == m }?.data.values.sorted(), [10, 20, 30])
        let sample = claimed.first { $0.key == s }?.data
        XCTAssertEqual(sample?.lastValue, 8)
        XCTAssertEqual(sample?.lastTimestamp, ts + 900)
        XCTAssertEqual(sample?.count, 3)
    }

    /// Busy measurements: flushes of exact and sketched data for one bucket come back as their merge,
    /// a sketch once they pass `BucketData.exactLimit` values together, exact while they do not.
    static func busyMeasurementsMerge(_ make: Make) throws {
        let store = try make(1), other = try make(1)
        let busy = key("busy", kind: .measurement), quiet = key("quiet", kind: .measurement)
        let values = (0..<16_000).map { Double(($0 * 7_919) % 1_000) / 10 + 0.5 }
        let parts = [data(.measurement, Array(values[0..<3_000])), data(.measurement, Array(values[3_000..<6_000])),
                     data(.measurement, Array(values[6_000...]))]
        XCTAssertEqual(parts.map(\.isExact), [true, true, false])
        try store.append([(busy, parts[0]), (quiet, data(.measurement, [1, 2]))], dueAt: due)
        try other.append([(busy, parts[1]), (quiet, data(.measurement, [3]))], dueAt: due)
        try store.append([(busy, parts[2])], dueAt: due)
        var merged = parts[0]
        merged.merge(parts[1])
        merged.merge(parts[2])
        let claimed = try claimAll(store)
        let got = claimed.first { $0.key == busy }?.data
        XCTAssertEqual(got, merged)
        XCTAssertEqual(got?.count, 16_000)
        XCTAssertEqual(got?.isExact, false)
        XCTAssertEqual(claimed.first { $0.key == quiet }?.data.values.sorted(), [1, 2, 3])
    }

    /// Two outlets (threads, and for Redis two stores with their own connections) claim at once:
    /// every bucket goes to exactly one of them.
    static func concurrentClaimsHandOutEachBucketOnce(_ make: Make) throws {
        let store = try make(1)
        let n = 2000
        try store.append((0..<n).map { (key("m\($0)"), data(.counter, [Double($0)])) }, dueAt: due)
        let outlets = [store, try make(1)]
        let results = Locked<(seen: [[BucketKey]], errors: [String])>(([[], []], []))
        let group = DispatchGroup()
        for i in 0..<2 {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                do {
                    while true {
                        let got = try outlets[i].claim(partition: 0, now: t0 + 200, limit: 37, lease: 300)
                        if got.isEmpty { break }
                        results.update { $0.seen[i] += got.map(\.key) }
                    }
                } catch {
                    results.update { $0.errors.append("\(error)") }
                }
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 120), .success)
        let (seen, errors) = results.value
        XCTAssertTrue(errors.isEmpty, "\(errors)")
        let a = Set(seen[0]), b = Set(seen[1])
        XCTAssertEqual(seen[0].count + seen[1].count, n, "each bucket claimed exactly once")
        XCTAssertTrue(a.isDisjoint(with: b), "\(a.intersection(b).count) buckets went to both outlets")
        XCTAssertEqual(a.union(b).count, n)
    }

    static func unacknowledgedClaimComesBackAfterLease(_ make: Make) throws {
        let store = try make(1)
        let k = key("hits")
        try store.append([(k, data(.counter, [3]))], dueAt: due)
        let now = t0 + 200
        XCTAssertEqual(try store.claim(partition: 0, now: now, limit: 10, lease: 30).map(\.key), [k])
        XCTAssertEqual(try store.claim(partition: 0, now: now + 29, limit: 10, lease: 30).count, 0,
                       "a leased bucket is invisible to other outlets")
        let again = try store.claim(partition: 0, now: now + 30, limit: 10, lease: 30)
        XCTAssertEqual(again.map(\.key), [k], "an expired lease makes the bucket due again")
        XCTAssertEqual(again.first?.data.sum, 3)
    }

    /// A claim given back (an outlet stopping before it tried) is due again at once, merged with what
    /// was appended meanwhile; only the holder of that very lease can give it back; the other buckets
    /// of the claim stay leased.
    static func releaseGivesAClaimBackAtOnce(_ make: Make) throws {
        let store = try make(1)
        let k = key("hits"), j = key("other")
        try store.append([(k, data(.counter, [3])), (j, data(.counter, [1]))], dueAt: due)
        let now = t0 + 200
        XCTAssertEqual(try store.claim(partition: 0, now: now, limit: 10, lease: 300).count, 2)
        let end = leaseEnd(now: now, lease: 300)
        try store.append([(k, data(.counter, [4]))], dueAt: due)
        try store.release([k], leaseEnd: end + 1, now: now + 1)
        XCTAssertEqual(try store.claim(partition: 0, now: now + 1, limit: 10, lease: 300).count, 0,
                       "a release naming another lease must be ignored")
        try store.release([k], leaseEnd: end, now: now + 1)
        try store.release([k], leaseEnd: end, now: now + 1)
        let again = try store.claim(partition: 0, now: now + 1, limit: 10, lease: 300)
        XCTAssertEqual(again.map(\.key), [k], "a released bucket is due at once")
        XCTAssertEqual(again.first?.data.sum, 7, "with the part appended while it was claimed")
        // The new claim is not the old lease's to give back.
        try store.release([k], leaseEnd: end, now: now + 2)
        XCTAssertEqual(try store.claim(partition: 0, now: now + 2, limit: 10, lease: 300).count, 0)
        try store.acknowledge([k])
        XCTAssertEqual(try claimAll(store).map(\.key), [j], "the bucket not given back comes back only with its lease")
    }

    /// A failed bucket goes back with a later due time and one more attempt, kept by the store for the
    /// next claimer (another handle); a deferred one keeps its attempts; both count as retrying until
    /// acknowledged; the backlog tells due, scheduled, claimed and retrying apart.
    static func rescheduleKeepsAttemptsAndBacklog(_ make: Make) throws {
        let store = try make(2)
        let other = try make(2)
        let k = key("fails"), j = key("deferred", time: t0 + 60), fresh = key("fresh", time: t0 + 600)
        try store.append([(k, data(.counter, [1])), (j, data(.counter, [2])), (fresh, data(.counter, [5]))], dueAt: due)
        let now = t0 + 200
        var b = try store.backlog(now: now)
        XCTAssertEqual(b.due, 2)
        XCTAssertEqual(b.scheduled, 1)
        XCTAssertEqual(b.claimed, 0)
        XCTAssertEqual(b.retrying, 0)
        XCTAssertEqual(b.earliestDue, due(k))
        var claimed: [ClaimedBucket] = []
        for p in 0..<2 { claimed += try store.claim(partition: p, now: now, limit: 10, lease: 300) }
        XCTAssertEqual(Set(claimed.map(\.key)), [k, j])
        XCTAssertEqual(claimed.map(\.attempts), [0, 0])
        XCTAssertEqual(try store.backlog(now: now).claimed, 2)
        let end = leaseEnd(now: now, lease: 300)
        try store.append([(k, data(.counter, [10]))], dueAt: due)  // arrives during the claim
        try store.reschedule([k], leaseEnd: end, dueAt: now + 30, because: .failed)
        try store.reschedule([j], leaseEnd: end, dueAt: now + 40, because: .deferred)
        try store.reschedule([k], leaseEnd: end + 1, dueAt: now, because: .failed)  // not this lease: ignored
        b = try store.backlog(now: now)
        XCTAssertEqual(b.due, 0)
        XCTAssertEqual(b.scheduled, 3)
        XCTAssertEqual(b.claimed, 0)
        XCTAssertEqual(b.retrying, 2)
        XCTAssertEqual(b.oldestRetryingEnd, k.end)
        XCTAssertEqual(b.oldestAge(now: now), now - k.end)
        for p in 0..<2 { XCTAssertEqual(try other.claim(partition: p, now: now + 29, limit: 10, lease: 300).count, 0, "not due yet") }
        var again: [ClaimedBucket] = []
        for p in 0..<2 { again += try other.claim(partition: p, now: now + 40, limit: 10, lease: 300) }
        let byName = Dictionary(uniqueKeysWithValues: again.map { ($0.key.name, $0) })
        XCTAssertEqual(byName["fails"]?.attempts, 1, "the attempt count travels with the bucket")
        XCTAssertEqual(byName["fails"]?.data.sum, 11, "with the part appended during the failed claim")
        XCTAssertEqual(byName["deferred"]?.attempts, 0, "a deferral is not an attempt")
        let end2 = leaseEnd(now: now + 40, lease: 300)
        try other.reschedule([k], leaseEnd: end2, dueAt: now + 50, because: .failed)
        var third: [ClaimedBucket] = []
        for p in 0..<2 { third += try store.claim(partition: p, now: now + 50, limit: 10, lease: 300) }
        XCTAssertEqual(third.first { $0.key == k }?.attempts, 2)
        try store.acknowledge([k, j])
        b = try store.backlog(now: now + 50)
        XCTAssertEqual(b.retrying, 0, "acknowledged buckets leave the retrying set")
        XCTAssertEqual(b.scheduled + b.due, 1)
        XCTAssertNil(b.oldestRetryingEnd)
    }

    /// A bucket whose claims keep running out unsettled (its outlet dies on it) is set aside after 3
    /// expiries; the other buckets of those claims go on; a settled claim resets the count.
    static func aBucketWhoseClaimsKeepExpiringIsSetAside(_ make: Make) throws {
        let store = try make(1)
        let poison = key("poison"), fine = key("fine")
        try store.append([(poison, data(.counter, [1])), (fine, data(.counter, [2]))], dueAt: due)
        var now = t0 + 200
        for round in 1...4 {
            let claimed = try store.claim(partition: 0, now: now, limit: 10, lease: 10)
            XCTAssertEqual(Set(claimed.map(\.key)), [poison, fine], "round \(round)")
            // The outlet settles `fine` in time (puts it back untried), then dies on `poison`.
            try store.release([fine], leaseEnd: leaseEnd(now: now, lease: 10), now: now)
            now += 11
        }
        // The fourth expiry of `poison` sets it aside; `fine` is still due.
        let last = try store.claim(partition: 0, now: now, limit: 10, lease: 10)
        XCTAssertEqual(last.map(\.key), [fine])
        XCTAssertEqual(try store.backlog(now: now).quarantined, 1)
        try store.acknowledge([fine])
        XCTAssertEqual(try store.claim(partition: 0, now: now + 100, limit: 10, lease: 10).count, 0,
                       "a set-aside bucket is not due again")
    }

    static func acknowledgeDeletes(_ make: Make) throws {
        let store = try make(1)
        let keys = (0..<5).map { key("k\($0)") }
        try store.append(keys.map { ($0, data(.counter, [1])) }, dueAt: due)
        let claimed = try store.claim(partition: 0, now: t0 + 200, limit: 10, lease: 30)
        XCTAssertEqual(claimed.count, 5)
        try store.acknowledge(Array(keys[0..<3]))
        let back = try store.claim(partition: 0, now: t0 + 1000, limit: 10, lease: 30)
        XCTAssertEqual(Set(back.map(\.key)), Set(keys[3...]), "acknowledged buckets are gone for good")
        try store.acknowledge(back.map(\.key))
        XCTAssertEqual(try claimAll(store).count, 0)
    }

    /// Data appended to a bucket while an outlet holds it is neither lost nor posted twice.
    static func appendIntoClaimedBucket(_ make: Make) throws {
        let store = try make(1)
        let k = key("hits"), j = key("jobs")
        try store.append([(k, data(.counter, [1])), (j, data(.counter, [10]))], dueAt: due)
        let first = try store.claim(partition: 0, now: t0 + 200, limit: 10, lease: 30)
        XCTAssertEqual(first.count, 2)
        // A late flush (another receiver) for both buckets while they are claimed.
        try store.append([(k, data(.counter, [2])), (j, data(.counter, [20]))], dueAt: due)
        XCTAssertEqual(try store.claim(partition: 0, now: t0 + 201, limit: 10, lease: 30).count, 0,
                       "the late part must wait for the claim to end")
        // The outlet posts k and acknowledges it: only the late part of k comes next.
        try store.acknowledge([k])
        let next = try store.claim(partition: 0, now: t0 + 202, limit: 10, lease: 30)
        XCTAssertEqual(next.map(\.key), [k])
        XCTAssertEqual(next.first?.data.sum, 2, "the late part alone: the claimed part was posted already")
        try store.acknowledge([k])
        // j's outlet died: after the lease, j comes back once, with both parts merged.
        let retry = try store.claim(partition: 0, now: t0 + 230, limit: 10, lease: 30)
        XCTAssertEqual(retry.map(\.key), [j])
        XCTAssertEqual(retry.first?.data.sum, 30)
        XCTAssertEqual(retry.first?.data.count, 2)
        try store.acknowledge([j])
        XCTAssertEqual(try claimAll(store).count, 0)
    }

    static func partitionsSpreadKeys(_ make: Make) throws {
        let partitions = 4
        let store = try make(partitions)
        XCTAssertEqual(store.partitions, partitions)
        let keys = (0..<200).map { key("metric.\($0)") }
        try store.append(keys.map { ($0, data(.counter, [1])) }, dueAt: due)
        var total = 0
        for p in 0..<partitions {
            let got = try store.claim(partition: p, now: t0 + 200, limit: 1000, lease: 30)
            XCTAssertGreaterThan(got.count, 10, "partition \(p) got too few of 200 keys")
            for c in got {
                XCTAssertEqual(StorePartitioning.partition(of: c.key, partitions: partitions), p,
                               "claim of partition \(p) returned a key of another partition")
            }
            total += got.count
        }
        XCTAssertEqual(total, 200)
        XCTAssertThrowsError(try store.claim(partition: partitions, now: t0, limit: 1, lease: 1))
    }

    /// The size of `data`'s record, as a flush appends it.
    static func recordSize(_ data: BucketData) -> Int {
        var record: [UInt8] = []
        BucketCodec.encode(data, into: &record)
        return record.count
    }

    /// Each drain's held bytes are the records appended for it (any kind, any hour, any partition, by
    /// any process) that are not yet acknowledged: claimed ones stay held until acknowledged, a part
    /// appended while its bucket was claimed stays held after that claim's acknowledgement until its
    /// own, a claim given back or run out keeps its bytes; drains are counted apart.
    static func heldBytesFollowAppendsClaimsAndAcknowledgements(_ make: Make) throws {
        let store = try make(2), other = try make(2)
        let now = t0 + 4_000
        let a1 = key("hits", token: "drain-a"), a2 = key("latency", kind: .measurement, token: "drain-a")
        let a3 = key("rss", kind: .sample, time: t0 + 3_600, token: "drain-a")  // the next hour
        let b1 = key("hits", token: "drain-b")
        func held() throws -> [String: Int] { try store.heldBytes(tokens: ["drain-a", "drain-b"], now: now) }
        XCTAssertEqual(try held(), ["drain-a": 0, "drain-b": 0])
        XCTAssertEqual(try store.heldBytes(tokens: [], now: now), [:])

        let first: [(key: BucketKey, data: BucketData)] = [
            (a1, data(.counter, [1, 2])), (a2, data(.measurement, [5, 1, 9])), (a3, data(.sample, [3])),
            (b1, data(.counter, [7])),
        ]
        try store.append(first, dueAt: due)
        var a = first[0...2].reduce(0) { $0 + recordSize($1.data) }
        let b = recordSize(first[3].data)
        XCTAssertEqual(try store.heldBytes(tokens: ["drain-a", "drain-b", "drain-c", "drain-a"], now: now),
                       ["drain-a": a, "drain-b": b, "drain-c": 0])

        // Another process's flush into the same buckets, a sketched measurement among them.
        let sketch = data(.measurement, (0..<6_000).map { Double($0 % 500) + 0.5 })
        XCTAssertFalse(sketch.isExact)
        try other.append([(a2, sketch), (a1, data(.counter, [3]))], dueAt: due)
        a += recordSize(sketch) + recordSize(data(.counter, [3]))
        XCTAssertEqual(try held(), ["drain-a": a, "drain-b": b])
        XCTAssertEqual(try other.heldBytes(tokens: ["drain-a", "drain-b"], now: now), ["drain-a": a, "drain-b": b],
                       "every process reads the same count")

        // Claimed: held until acknowledged.
        let claimedAt = t0 + 4_000
        var claimed: [ClaimedBucket] = []
        for p in 0..<2 { claimed += try store.claim(partition: p, now: claimedAt, limit: 10, lease: 300) }
        XCTAssertEqual(Set(claimed.map(\.key)), [a1, a2, a3, b1])
        XCTAssertEqual(try held(), ["drain-a": a, "drain-b": b])

        // Appended while claimed: held too, and after the claim's acknowledgement until its own.
        let late = data(.counter, [4])
        try other.append([(a1, late)], dueAt: due)
        XCTAssertEqual(try held(), ["drain-a": a + recordSize(late), "drain-b": b])
        try store.acknowledge([a1, a2, a3])
        XCTAssertEqual(try held(), ["drain-a": recordSize(late), "drain-b": b], "the late part waits, held")
        try store.acknowledge([a1, a2, a3])  // again: a1's late part is not claimed, nothing changes
        XCTAssertEqual(try held(), ["drain-a": recordSize(late), "drain-b": b])

        // Given back, or its lease run out: merged again, still held.
        var again: [ClaimedBucket] = []
        for p in 0..<2 { again += try store.claim(partition: p, now: claimedAt + 1, limit: 10, lease: 300) }
        XCTAssertEqual(again.map(\.key), [a1])
        XCTAssertEqual(again.first?.data.sum, 4)
        try store.release([a1], leaseEnd: leaseEnd(now: claimedAt + 1, lease: 300), now: claimedAt + 1)
        XCTAssertEqual(try held(), ["drain-a": recordSize(late), "drain-b": b])
        var third: [ClaimedBucket] = []
        for p in 0..<2 { third += try store.claim(partition: p, now: claimedAt + 400, limit: 10, lease: 300) }
        XCTAssertEqual(Set(third.map(\.key)), [a1, b1], "b1's lease ran out: due again")
        XCTAssertEqual(try held(), ["drain-a": recordSize(late), "drain-b": b])

        try store.acknowledge([a1])
        XCTAssertEqual(try held(), ["drain-a": 0, "drain-b": b], "drains are counted apart")
        try other.acknowledge([b1])
        XCTAssertEqual(try held(), ["drain-a": 0, "drain-b": 0])
        XCTAssertEqual(try claimAll(store).count, 0)
    }

    static func largeBatch(_ make: Make) throws {
        let store = try make(1)
        let n = 10_000
        let batch = (0..<n).map { i in
            (key: key("big.\(i)", kind: .measurement), data: data(.measurement, [Double(i), 1]))
        }
        try store.append(batch, dueAt: due)
        let claimed = try store.claim(partition: 0, now: t0 + 200, limit: 100_000, lease: 30)
        XCTAssertEqual(claimed.count, n)
        XCTAssertEqual(Set(claimed.map(\.key)).count, n)
        XCTAssertEqual(claimed.reduce(0.0) { $0 + $1.data.sum }, Double(n * (n - 1) / 2 + n))
        try store.acknowledge(claimed.map(\.key))
        XCTAssertEqual(try claimAll(store).count, 0)
    }
}

/// A value shared between test threads, behind a lock.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value {
        lock.lock()
        defer { lock.unlock() }
        return stored
    }
    func update(_ body: (inout Value) -> Void) {
        lock.lock()
        body(&stored)
        lock.unlock()
    }
}
