import Foundation
import L2metTestSupport
import L2metCore
import XCTest
@testable import L2metStore

/// The store behaviours against `RedisStore` on a real redis-server of each test's own (so tests may
/// run in parallel), plus what only Redis has: restarts, passwords, scripts, the schema.
final class RedisStoreTests: XCTestCase {
    private var servers: [RedisServer] = []

    override func tearDown() {
        for server in servers { server.stop() }
        servers = []
        super.tearDown()
    }

    /// The URL of a new, empty redis-server that lives until the test ends.
    private func freshRedis() throws -> String {
        let server = try RedisServer()
        servers.append(server)
        return server.url
    }

    /// Each call opens another RedisStore (its own connections) on the same fresh server.
    private func maker() throws -> StoreBehaviours.Make {
        let url = try freshRedis()
        return { partitions in try RedisStore(url: url, partitions: partitions) }
    }

    func testFlushAndReadBack() throws { try StoreBehaviours.flushAndReadBack(maker()) }
    func testAppendsMerge() throws { try StoreBehaviours.appendsMerge(maker()) }
    func testBusyMeasurementsMerge() throws { try StoreBehaviours.busyMeasurementsMerge(maker()) }
    func testConcurrentClaimsHandOutEachBucketOnce() throws { try StoreBehaviours.concurrentClaimsHandOutEachBucketOnce(maker()) }
    func testUnacknowledgedClaimComesBackAfterLease() throws { try StoreBehaviours.unacknowledgedClaimComesBackAfterLease(maker()) }
    func testAcknowledgeDeletes() throws { try StoreBehaviours.acknowledgeDeletes(maker()) }
    func testAppendIntoClaimedBucket() throws { try StoreBehaviours.appendIntoClaimedBucket(maker()) }
    func testPartitionsSpreadKeys() throws { try StoreBehaviours.partitionsSpreadKeys(maker()) }
    func testLargeBatch() throws { try StoreBehaviours.largeBatch(maker()) }
    func testRescheduleKeepsAttemptsAndBacklog() throws {
        let server = try RedisServer()
        try StoreBehaviours.rescheduleKeepsAttemptsAndBacklog { partitions in try RedisStore(url: server.url, partitions: partitions) }
    }
    func testABucketWhoseClaimsKeepExpiringIsSetAside() throws {
        let server = try RedisServer()
        try StoreBehaviours.aBucketWhoseClaimsKeepExpiringIsSetAside { partitions in try RedisStore(url: server.url, partitions: partitions) }
    }
    func testHeldBytesFollowAppendsClaimsAndAcknowledgements() throws {
        let server = try RedisServer()
        try StoreBehaviours.heldBytesFollowAppendsClaimsAndAcknowledgements { partitions in
            try RedisStore(url: server.url, partitions: partitions)
        }
        try assertEveryHeldCountHasATTL(server.url)
    }
    func testReleaseGivesAClaimBackAtOnce() throws {
        let server = try RedisServer()  // a Redis of its own: every shared database is taken
        try StoreBehaviours.releaseGivesAClaimBackAtOnce { partitions in try RedisStore(url: server.url, partitions: partitions) }
    }

    /// The keys the schema promises: data under PREFIX:b:STOREKEY with a TTL, due set per partition,
    /// claimed data renamed to PREFIX:c:…, flush markers.
    func testSchemaKeysAndTTL() throws {
        let url = try freshRedis()
        let store = try RedisStore(url: url, partitions: 2)
        let k = StoreBehaviours.key("schema.check")
        let p = StorePartitioning.partition(of: k, partitions: 2)
        try store.append([(k, StoreBehaviours.data(.counter, [1]))], dueAt: StoreBehaviours.due)
        try store.append([(k, StoreBehaviours.data(.counter, [2]))], dueAt: StoreBehaviours.due)
        let raw = try TestRedis.command(url, ["GET", "l2met:b:" + k.storeKey])
        guard case .string(let bytes) = raw else { return XCTFail("no bucket data at l2met:b:…: \(raw)") }
        XCTAssertEqual(bytes.count, 2 * BucketCodec.headerSize, "two appended records")
        XCTAssertEqual(BucketCodec.decode(bytes)?.sum, 3)
        guard case .integer(let ttl) = try TestRedis.command(url, ["TTL", "l2met:b:" + k.storeKey]) else { return XCTFail() }
        XCTAssertGreaterThan(ttl, 86_000, "bucket data must expire a day after it is due")
        XCTAssertEqual(try TestRedis.command(url, ["ZSCORE", "l2met:due:\(p)", k.storeKey]),
                       .string(Array(String(StoreBehaviours.due(k)).utf8)))
        guard case .array(let markers) = try TestRedis.command(url, ["KEYS", "l2met:flush:*"]) else { return XCTFail() }
        XCTAssertEqual(markers.count, 2, "one marker per flush chunk")
        _ = try store.claim(partition: p, now: StoreBehaviours.t0 + 500, limit: 10, lease: 60)
        XCTAssertEqual(try TestRedis.command(url, ["EXISTS", "l2met:b:" + k.storeKey]), .integer(0))
        XCTAssertEqual(try TestRedis.command(url, ["EXISTS", "l2met:c:" + k.storeKey]), .integer(1))
        XCTAssertEqual(try TestRedis.command(url, ["ZSCORE", "l2met:claimed:\(p)", k.storeKey]),
                       .string(Array(String(StoreBehaviours.t0 + 560).utf8)))
        try store.acknowledge([k])
        XCTAssertEqual(try TestRedis.command(url, ["EXISTS", "l2met:c:" + k.storeKey]), .integer(0))
        XCTAssertEqual(try TestRedis.command(url, ["ZCARD", "l2met:claimed:\(p)"]), .integer(0))
    }

    /// After SCRIPT FLUSH (or a restart) EVALSHA answers NOSCRIPT; the store falls back to EVAL.
    func testScriptsSurviveScriptFlush() throws {
        let url = try freshRedis()
        let store = try RedisStore(url: url)
        let k = StoreBehaviours.key("noscript")
        try store.append([(k, StoreBehaviours.data(.counter, [4]))], dueAt: StoreBehaviours.due)
        XCTAssertEqual(try TestRedis.command(url, ["SCRIPT", "FLUSH"]), .status("OK"))
        let claimed = try store.claim(partition: 0, now: Int64.max / 2, limit: 10, lease: 60)
        XCTAssertEqual(claimed.first?.data.sum, 4)
        XCTAssertEqual(try TestRedis.command(url, ["SCRIPT", "FLUSH"]), .status("OK"))
        try store.acknowledge([k])
        XCTAssertEqual(try TestRedis.command(url, ["DBSIZE"]), .integer(1), "only the flush marker is left")
    }

    /// Redis stops in the middle: calls fail with `.unavailable`; the caller keeps its batches; once
    /// Redis is back (same data directory, append-only file) the store reconnects and every count arrives.
    func testRedisStoppedAndStartedAgain() throws {
        let server = try RedisServer(arguments: ["--appendonly", "yes", "--appendfsync", "always"])
        let store = try RedisStore(url: server.url, connectTimeout: 0.5, commandTimeout: 2, lostReplyRetryWindow: 1)
        let k = StoreBehaviours.key("jobs")
        var expected = 0.0
        func batch(_ v: Double) -> [(key: BucketKey, data: BucketData)] { [(k, StoreBehaviours.data(.counter, [v]))] }

        try store.append(batch(1), dueAt: StoreBehaviours.due)
        expected += 1
        try store.ping()

        server.stop()
        var held: [Double] = []
        for v in [10.0, 100.0] {
            XCTAssertThrowsError(try store.append(batch(v), dueAt: StoreBehaviours.due)) { error in
                guard case StoreError.unavailable = error else { return XCTFail("expected .unavailable, got \(error)") }
            }
            held.append(v)
        }
        XCTAssertThrowsError(try store.ping()) { error in
            guard case StoreError.unavailable = error else { return XCTFail("expected .unavailable, got \(error)") }
        }
        XCTAssertThrowsError(try store.claim(partition: 0, now: 0, limit: 1, lease: 1))

        try server.start()
        // As the flusher does: retry the held batches until the store takes them.
        let until = Date().addingTimeInterval(15)
        while !held.isEmpty {
            do {
                try store.append(batch(held[0]), dueAt: StoreBehaviours.due)
                expected += held.removeFirst()
            } catch {
                guard case StoreError.unavailable = error else { return XCTFail("unexpected \(error)") }
                if Date() > until { return XCTFail("store did not reconnect: \(error)") }
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
        try store.ping()
        let claimed = try StoreBehaviours.claimAll(store)
        XCTAssertEqual(claimed.map(\.key), [k])
        XCTAssertEqual(claimed.first?.data.sum, expected, "every appended count arrives")
        XCTAssertEqual(claimed.first?.data.count, 3)
    }

    func testPasswordProtectedRedis() throws {
        let server = try RedisServer(arguments: ["--requirepass", "open-sesame",
                                                         "--user", "alice", "on", ">wonderland", "~*", "&*", "+@all"])
        let good = try RedisStore(url: "redis://:open-sesame@127.0.0.1:\(server.port)/2")
        try good.ping()
        let k = StoreBehaviours.key("auth")
        try good.append([(k, StoreBehaviours.data(.counter, [5]))], dueAt: StoreBehaviours.due)

        let acl = try RedisStore(url: "redis://alice:wonderland@127.0.0.1:\(server.port)/2")
        XCTAssertEqual(try StoreBehaviours.claimAll(acl).first?.data.sum, 5, "ACL user sees the same database")

        for url in ["redis://:not-the-password@127.0.0.1:\(server.port)",
                    "redis://alice:not-the-password@127.0.0.1:\(server.port)",
                    "redis://127.0.0.1:\(server.port)"] {
            let bad = try RedisStore(url: url)
            XCTAssertThrowsError(try bad.ping(), url) { error in
                guard case StoreError.unavailable(let why) = error else { return XCTFail("\(error)") }
                XCTAssertFalse(why.contains("not-the-password"), "error shows the password: \(why)")
                if url.contains("not-the-password") {
                    XCTAssertTrue(why.contains("authentication"), why)
                }
            }
        }
    }

    func testConnectErrorsNameTheHostNotThePassword() throws {
        let port = freePort()
        let store = try RedisStore(url: "redis://:topsecret@127.0.0.1:\(port)", connectTimeout: 0.5)
        XCTAssertThrowsError(try store.ping()) { error in
            guard case StoreError.unavailable(let why) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(why.contains("127.0.0.1:\(port)"), why)
            XCTAssertFalse("\(error)".contains("topsecret"), why)
        }
    }

    /// A caller retrying a batch it was not told the fate of, unchanged and under the same flush id,
    /// never applies it twice, however many chunks it has; a new id is new data.
    func testTheSameFlushIDIsAppliedOnce() throws {
        let server = try RedisServer()
        let store = try RedisStore(url: server.url, appendChunk: 2)
        let batch = (0..<5).map { (StoreBehaviours.key("k\($0)"), StoreBehaviours.data(.counter, [Double($0 + 1)])) }
        let id = FlushID.make()
        for _ in 0..<3 { try store.append(batch, flushID: id, dueAt: StoreBehaviours.due) }
        XCTAssertEqual(try store.heldBytes(tokens: ["tok"], now: StoreBehaviours.t0), ["tok": 5 * BucketCodec.headerSize],
                       "held once")
        let first = try StoreBehaviours.claimAll(store)
        XCTAssertEqual(first.reduce(0.0) { $0 + $1.data.sum }, 15)
        try store.acknowledge(first.map(\.key))
        try store.append(batch, flushID: FlushID.make(), dueAt: StoreBehaviours.due)
        XCTAssertEqual(try StoreBehaviours.claimAll(store).reduce(0.0) { $0 + $1.data.sum }, 15, "a fresh id is new data")
    }

    /// The reply to a flush is lost after Redis ran it: `append` sends the same flush (same id) again,
    /// the markers make it a no-op, and the counts are stored once, not twice.
    func testLostReplyToAFlushIsNotAppliedTwice() throws {
        let server = try RedisServer()
        let proxy = try LossyRedisProxy(upstreamPort: server.port)
        defer { proxy.close() }
        let viaProxy = try RedisStore(url: "redis://127.0.0.1:\(proxy.port)")
        let k = StoreBehaviours.key("once"), j = StoreBehaviours.key("twice.not", kind: .measurement)
        try viaProxy.ping()
        proxy.arm()
        try viaProxy.append([(k, StoreBehaviours.data(.counter, [2, 3])), (j, StoreBehaviours.data(.measurement, [7]))],
                            dueAt: StoreBehaviours.due)
        XCTAssertEqual(proxy.droppedReplies, 1, "the proxy must have cut the first reply")
        let direct = try RedisStore(url: server.url)
        let claimed = try StoreBehaviours.claimAll(direct)
        XCTAssertEqual(claimed.first { $0.key == k }?.data.sum, 5, "the flush must be stored exactly once")
        XCTAssertEqual(claimed.first { $0.key == j }?.data.values, [7])
    }

    /// A claim whose reply was lost (the proxy cuts it) is recovered by the store's retry at once: the
    /// same buckets, still leased to it, not a lease later.
    func testALostClaimReplyIsRecoveredAtOnce() throws {
        let server = try RedisServer()
        let proxy = try LossyRedisProxy(upstreamPort: server.port)
        defer { proxy.close() }
        let viaProxy = try RedisStore(url: "redis://127.0.0.1:\(proxy.port)")
        let k = StoreBehaviours.key("claimed.once")
        try viaProxy.append([(k, StoreBehaviours.data(.counter, [4]))], dueAt: StoreBehaviours.due)
        proxy.arm()
        let now = StoreBehaviours.t0 + 200, id = FlushID.make()
        // The store retries once on a fresh connection; should that fail too, the outlet's claimer sends
        // the claim again under its name: either way the buckets the lost reply took come back now.
        var claimed = (try? viaProxy.claim(partition: 0, now: now, limit: 10, lease: 300, claimID: id)) ?? []
        if claimed.isEmpty { claimed = try viaProxy.claim(partition: 0, now: now, limit: 10, lease: 300, claimID: id) }
        XCTAssertEqual(proxy.droppedReplies, 1, "the proxy must have cut the first reply")
        XCTAssertEqual(claimed.map(\.key), [k], "the retry hands out what the lost reply had claimed")
        XCTAssertEqual(claimed.first?.data.sum, 4)
        try viaProxy.acknowledge([k])
        let keys = try TestRedis.command(server.url, ["KEYS", "l2met:claim:*"])
        XCTAssertEqual("\(keys)", "\(RedisReply.array([]))", "claim records are deleted once their reply arrived")
    }

    /// Redis stalls (DEBUG SLEEP) longer than the command time-out and its retry while a claim is
    /// sent: the claim throws; sent again under its name once Redis is awake, it hands out the bucket
    /// (what it took, if Redis ran it after all, as testALostClaimReplyIsRecoveredAtOnce shows; else
    /// a fresh claim), seconds later, not a lease (300 s here) later.
    func testAStallLongerThanTheCommandTimeOutDelaysAClaimBySecondsNotALease() throws {
        let server = try RedisServer(arguments: ["--enable-debug-command", "local"])
        let store = try RedisStore(url: server.url, commandTimeout: 1)
        let k = StoreBehaviours.key("stalled")
        try store.append([(k, StoreBehaviours.data(.counter, [6]))], dueAt: StoreBehaviours.due)
        let url = server.url
        Thread.detachNewThread { _ = try? TestRedis.command(url, ["DEBUG", "SLEEP", "3"]) }
        Thread.sleep(forTimeInterval: 0.3)
        let now = StoreBehaviours.t0 + 200, id = FlushID.make()
        XCTAssertThrowsError(try store.claim(partition: 0, now: now, limit: 10, lease: 300, claimID: id),
                             "two command time-outs of 1 s pass within the stall")
        Thread.sleep(forTimeInterval: 1.5)  // Redis is awake
        let began = Date()
        let again = try store.claim(partition: 0, now: now, limit: 10, lease: 300, claimID: id)
        XCTAssertEqual(again.map(\.key), [k], "sent again under its name, the claim hands out what it took")
        XCTAssertEqual(again.first?.data.sum, 6)
        XCTAssertLessThan(Date().timeIntervalSince(began), 5)
    }

    /// A bucket collects one record per flush into its interval; past 256 KiB they are merged into one
    /// by `compact`, which keeps what was appended since and the TTL, so a bucket's size stays bounded.
    func testABucketsRecordsAreCompactedOnceTheyPass256KiB() throws {
        let server = try RedisServer()
        let store = try RedisStore(url: server.url)
        let k = StoreBehaviours.key("busy", kind: .measurement)
        let data = "l2met:b:" + k.storeKey
        func length() throws -> Int64 {
            guard case .integer(let n) = try TestRedis.command(server.url, ["STRLEN", data]) else { return -1 }
            return n
        }
        let flush = StoreBehaviours.data(.measurement, (0..<5_000).map { Double($0 % 997) * 1.37 + 0.5 })  // a sketch
        var flushes = 0
        while try length() <= 262_144 {
            try store.append([(k, flush)], dueAt: StoreBehaviours.due)
            flushes += 1
            XCTAssertLessThan(flushes, 10_000)
            if flushes >= 10_000 { return }
        }
        let before = try length()
        func held() throws -> Int64 { Int64(try store.heldBytes(tokens: ["tok"], now: StoreBehaviours.t0 + 200)["tok"] ?? -1) }
        XCTAssertEqual(try held(), before, "every record appended is held")
        XCTAssertEqual("\(try TestRedis.command(server.url, ["SISMEMBER", "l2met:compact:0", k.storeKey]))", "\(RedisReply.integer(1))")
        XCTAssertEqual(try store.compact(partition: 0, limit: 16), 1)
        XCTAssertLessThanOrEqual(try length(), Int64(BucketCodec.maxSketchRecordSize), "from \(before) bytes in \(flushes) records")
        XCTAssertEqual(try held(), try length(), "compaction makes the held bytes fewer by as much as the data")
        guard case .integer(let ttl) = try TestRedis.command(server.url, ["TTL", data]) else { return XCTFail("no TTL") }
        XCTAssertGreaterThan(ttl, 0, "the TTL is kept")
        XCTAssertEqual(try store.compact(partition: 0, limit: 16), 0, "nothing left to compact")
        try store.append([(k, flush)], dueAt: StoreBehaviours.due)
        let claimed = try StoreBehaviours.claimAll(store)
        XCTAssertEqual(claimed.first?.data.count, (flushes + 1) * 5_000, "every value of every flush, once")
        XCTAssertEqual(claimed.first?.data.sum ?? 0, Double(flushes + 1) * flush.sum, accuracy: 1e-6 * Double(flushes + 1) * flush.sum)
        XCTAssertGreaterThan(try held(), 0)
        try store.acknowledge([k])
        XCTAssertEqual(try held(), 0)
    }

    // MARK: held bytes

    /// Every `held:` key lives no longer than it must: each has a TTL.
    private func assertEveryHeldCountHasATTL(_ url: String, file: StaticString = #filePath, line: UInt = #line) throws {
        guard case .array(let keys) = try TestRedis.command(url, ["KEYS", "l2met:held:*"]) else { return XCTFail("KEYS", file: file, line: line) }
        for case .string(let k) in keys {
            let name = String(decoding: k, as: UTF8.self)
            let ttl = try TestRedis.command(url, ["TTL", name])
            guard case .integer(let n) = ttl, n > 0 else { return XCTFail("\(name) has no TTL: \(ttl)", file: file, line: line) }
        }
    }

    private func integer(_ url: String, _ args: [String]) throws -> Int64? {
        switch try TestRedis.command(url, args) {
        case .integer(let n): return n
        case .string(let b): return Int64(String(decoding: b, as: UTF8.self))
        default: return nil
        }
    }

    /// The bytes of a drain's bucket data keys, read from Redis.
    private func dataBytes(_ url: String, token: String) throws -> Int64 {
        var sum: Int64 = 0
        for state in ["b", "c"] {
            guard case .array(let keys) = try TestRedis.command(url, ["KEYS", "l2met:\(state):\(token)|*"]) else { continue }
            for case .string(let k) in keys { sum += try integer(url, ["STRLEN", String(decoding: k, as: UTF8.self)]) ?? 0 }
        }
        return sum
    }

    /// The count of a drain's hour: `P held:SHA1HEX(TOKEN):HOUR`, whose expiry is the latest of its
    /// buckets' (never moved earlier by a bucket that expires sooner), one key per hour.
    func testTheHeldCountOfAnHourExpiresWithItsLatestBucket() throws {
        let server = try RedisServer()
        let store = try RedisStore(url: server.url, bucketTTL: 3_600)
        let now = WallClock.seconds()
        let soon = StoreBehaviours.key("soon"), later = StoreBehaviours.key("later", source: "web.2")
        let nextHour = StoreBehaviours.key("next", time: StoreBehaviours.t0 + 3_600)
        let dues = [soon: now + 100, later: now + 2_000, nextHour: now + 500]
        let due = { (k: BucketKey) in dues[k]! }
        try store.append([(later, StoreBehaviours.data(.counter, [1]))], dueAt: due)
        try store.append([(soon, StoreBehaviours.data(.counter, [2])), (nextHour, StoreBehaviours.data(.counter, [3]))], dueAt: due)

        let held = "l2met:held:79bead8e6d65862a00cffaa12ccde1189ec34d29:472222"  // SHA-1 of "tok"; t0 / 3600
        XCTAssertEqual(store.heldKey(soon), held)
        XCTAssertEqual(try integer(server.url, ["GET", held]), 2 * Int64(BucketCodec.headerSize))
        XCTAssertEqual(try integer(server.url, ["EXPIRETIME", held]), now + 2_000 + 3_600, "the latest bucket's expiry")
        XCTAssertEqual(try integer(server.url, ["EXPIRETIME", "l2met:b:" + later.storeKey]), now + 2_000 + 3_600)
        XCTAssertEqual(try integer(server.url, ["EXPIRETIME", "l2met:b:" + soon.storeKey]), now + 100 + 3_600)
        XCTAssertEqual(try integer(server.url, ["GET", store.heldKey(nextHour)]), Int64(BucketCodec.headerSize))
        XCTAssertEqual(try integer(server.url, ["EXPIRETIME", store.heldKey(nextHour)]), now + 500 + 3_600)
        XCTAssertEqual(try store.heldBytes(tokens: ["tok"], now: StoreBehaviours.t0 + 4_000), ["tok": 3 * BucketCodec.headerSize])
        try assertEveryHeldCountHasATTL(server.url)
    }

    /// Buckets that expire unclaimed take their count with them: the hour's count expires with them,
    /// and the claim that meets their index entries afterwards subtracts nothing.
    func testHeldBytesLeaveWithBucketsThatExpireUnclaimed() throws {
        let server = try RedisServer()
        let store = try RedisStore(url: server.url, bucketTTL: 1)
        let k = StoreBehaviours.key("abandoned"), j = StoreBehaviours.key("abandoned.too", kind: .measurement)
        try store.append([(k, StoreBehaviours.data(.counter, [1])), (j, StoreBehaviours.data(.measurement, [1, 2]))],
                         dueAt: { _ in 0 })  // expire-at = now + 1
        let now = StoreBehaviours.t0 + 200
        XCTAssertEqual(try store.heldBytes(tokens: ["tok"], now: now), ["tok": 2 * BucketCodec.headerSize + 16])
        let until = Date().addingTimeInterval(5)
        while try integer(server.url, ["EXISTS", store.heldKey(k)]) != 0 && Date() < until { Thread.sleep(forTimeInterval: 0.1) }
        XCTAssertEqual(try integer(server.url, ["EXISTS", store.heldKey(k)]), 0, "the count expired")
        XCTAssertEqual(try integer(server.url, ["EXISTS", "l2met:b:" + k.storeKey]), 0, "with its data")
        XCTAssertEqual(try store.heldBytes(tokens: ["tok"], now: now), ["tok": 0])
        XCTAssertEqual(try StoreBehaviours.claimAll(store).count, 0, "their data is gone")
        try store.acknowledge([k, j])
        XCTAssertEqual(try integer(server.url, ["EXISTS", store.heldKey(k)]), 0, "no count made by a decrement")
        XCTAssertEqual(try store.heldBytes(tokens: ["tok"], now: now), ["tok": 0])
    }

    /// A decrement never makes a count (it would have no TTL) and never leaves one below 0: data whose
    /// count is gone (expired first, or written before counting) is acknowledged without one; a count
    /// short of its data is deleted at 0. What is held always matches the data keys' bytes.
    func testAHeldCountIsNeverMadeByADecrementNorLeftBelowZero() throws {
        let server = try RedisServer()
        let store = try RedisStore(url: server.url)
        let now = StoreBehaviours.t0 + 200
        let k = StoreBehaviours.key("k"), j = StoreBehaviours.key("j")
        try store.append([(k, StoreBehaviours.data(.counter, [1])), (j, StoreBehaviours.data(.counter, [2]))],
                         dueAt: StoreBehaviours.due)
        XCTAssertEqual(try store.heldBytes(tokens: ["tok"], now: now)["tok"].map { Int64($0) }, try dataBytes(server.url, token: "tok"))
        XCTAssertEqual(try StoreBehaviours.claimAll(store).count, 2)
        try TestRedis.command(server.url, ["DEL", store.heldKey(k)])
        try store.acknowledge([k])
        XCTAssertEqual(try integer(server.url, ["EXISTS", store.heldKey(k)]), 0, "not made again by the acknowledgement")

        // A count short of its data (10 bytes for 29 + 29): deleted, not negative, when the data goes.
        try store.append([(k, StoreBehaviours.data(.counter, [3]))], dueAt: StoreBehaviours.due)
        try TestRedis.command(server.url, ["SET", store.heldKey(k), "10", "KEEPTTL"])
        try store.acknowledge([j])
        XCTAssertEqual(try integer(server.url, ["EXISTS", store.heldKey(k)]), 0, "deleted at 0")
        XCTAssertEqual(try store.heldBytes(tokens: ["tok"], now: now), ["tok": 0])
        try assertEveryHeldCountHasATTL(server.url)

        // From nothing again: counted, and equal to the data keys' bytes through the claim's states.
        try TestRedis.command(server.url, ["DEL", "l2met:b:" + k.storeKey])
        XCTAssertEqual(try StoreBehaviours.claimAll(store).count, 0)
        let flushes = (0..<20).map { i in (StoreBehaviours.key("m\(i % 7)", kind: .measurement, token: "t\(i % 3)"),
                                            StoreBehaviours.data(.measurement, (0...i).map(Double.init))) }
        try store.append(flushes, dueAt: StoreBehaviours.due)
        _ = try store.claim(partition: 0, now: StoreBehaviours.t0 + 200, limit: 5, lease: 60)
        try store.append(Array(flushes[0..<10]), dueAt: StoreBehaviours.due)
        for t in ["t0", "t1", "t2"] {
            XCTAssertEqual(try store.heldBytes(tokens: [t], now: now)[t].map { Int64($0) }, try dataBytes(server.url, token: t), t)
        }
        let all = try StoreBehaviours.claimAll(store)
        try store.acknowledge(all.map(\.key))
        XCTAssertEqual(try store.heldBytes(tokens: ["t0", "t1", "t2"], now: now), ["t0": 0, "t1": 0, "t2": 0])
        guard case .array(let left) = try TestRedis.command(server.url, ["KEYS", "l2met:held:*"]) else { return XCTFail() }
        XCTAssertEqual(left.count, 0, "counts at 0 are deleted")
    }

    /// A script call names each drain and hour's count once; members of other resolutions or kinds in
    /// the same hour share it; a member that is not `TOKEN|RESOLUTION|TIME|…` has none.
    func testHeldCountsNameEachDrainAndHourOnce() {
        let t0 = StoreBehaviours.t0
        var held = HeldCounts(prefix: "l2met:")
        let keys = [
            StoreBehaviours.key("a"), StoreBehaviours.key("b", kind: .measurement),
            StoreBehaviours.key("c", time: t0 + 3_600), StoreBehaviours.key("d", token: "other"),
            BucketKey(token: "tok", name: "e", source: "", kind: .sample, units: "", resolution: 10, time: t0 + 10),
            StoreBehaviours.key("f", time: t0 + 3_600),
        ]
        XCTAssertEqual(keys.map { held.index(ofStoreKey: $0.storeKey) }, [1, 1, 2, 3, 1, 2])
        XCTAssertEqual(held.names, [
            "l2met:held:79bead8e6d65862a00cffaa12ccde1189ec34d29:472222",  // SHA-1 of "tok"; t0 / 3600
            "l2met:held:79bead8e6d65862a00cffaa12ccde1189ec34d29:472223",
            "l2met:held:" + SHA1.hex(Array("other".utf8)) + ":472222",
        ])
        XCTAssertEqual(held.index(ofStoreKey: "tok|60|-1|c|n|s|"), 4)
        XCTAssertEqual(held.names.last, "l2met:held:79bead8e6d65862a00cffaa12ccde1189ec34d29:-1", "floor, below 0 too")
        for bad in ["", "tok", "tok|60|", "tok|60|1700000040", "tok|60|soon|c|n|s|"] {
            XCTAssertEqual(held.index(ofStoreKey: bad), 0, bad)
            XCTAssertNil(HeldCounts.name(prefix: "l2met:", ofStoreKey: bad), bad)
        }
        XCTAssertEqual(held.names.count, 4)
        XCTAssertEqual(HeldCounts.name(prefix: "l2met:", ofStoreKey: keys[3].storeKey), held.names[2])
    }

    /// `heldBytes` reads the hours that may still hold data at `now`: from the TTL (and two hours)
    /// before it to the hour after.
    func testHeldHoursSpanTheBucketTTL() {
        XCTAssertEqual(RedisStore.hour(of: 3_599), 0)
        XCTAssertEqual(RedisStore.hour(of: 3_600), 1)
        XCTAssertEqual(RedisStore.hour(of: -1), -1)
        XCTAssertEqual(RedisStore.hour(of: -3_600), -1)
        XCTAssertEqual(RedisStore.hour(of: -3_601), -2)
        let r = RedisStore.heldHours(now: 100 * 3_600 + 5, bucketTTL: 25 * 3_600)
        XCTAssertEqual(r, 73...101)
        XCTAssertEqual(RedisStore.heldHours(now: 0, bucketTTL: Int64.max).count, 24 * 366 + 1, "at most a year")
    }
}
