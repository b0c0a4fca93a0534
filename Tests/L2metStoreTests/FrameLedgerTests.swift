import Foundation
import L2metTestSupport
import XCTest
@testable import L2metStore

/// The frame ledger's rules (pending, done, released), run against `MemoryFrameLedger` and against
/// `RedisFrameLedger` on a redis-server of its own, plus what only each has (key names and TTLs in
/// Redis; expiry and the size bound in memory).
final class FrameLedgerTests: XCTestCase {
    /// Pending until finished or released; done for the window; per drain token.
    static func pendingDoneReleased(_ a: FrameLedger, _ b: FrameLedger, file: StaticString = #filePath, line: UInt = #line) throws {
        let k = FrameKey(token: "drain-token-1", frameID: "frame-1")
        XCTAssertEqual(try a.begin(k), .started, file: file, line: line)
        XCTAssertEqual(try b.begin(k), .pending, "another receiver is taking it", file: file, line: line)
        XCTAssertEqual(try a.begin(k), .pending, file: file, line: line)
        try a.finish(k)
        XCTAssertEqual(try b.begin(k), .done, file: file, line: line)
        XCTAssertEqual(try a.begin(k), .done, file: file, line: line)

        // Another frame id, and the same frame id of another drain, are other bodies.
        XCTAssertEqual(try b.begin(FrameKey(token: "drain-token-1", frameID: "frame-2")), .started, file: file, line: line)
        XCTAssertEqual(try b.begin(FrameKey(token: "drain-token-2", frameID: "frame-1")), .started, file: file, line: line)

        // Released (answered anything but 200): the next attempt takes it.
        let r = FrameKey(token: "drain-token-1", frameID: "frame-3")
        XCTAssertEqual(try a.begin(r), .started, file: file, line: line)
        try a.release(r)
        XCTAssertEqual(try b.begin(r), .started, file: file, line: line)
        try b.finish(r)
        XCTAssertEqual(try a.begin(r), .done, file: file, line: line)
    }

    func testMemoryLedger() throws {
        let ledger = MemoryFrameLedger(window: 300)
        try Self.pendingDoneReleased(ledger, ledger)
    }

    func testRedisLedgersShareMarkers() throws {
        let redis = try RedisServer()
        let a = RedisFrameLedger(store: try RedisStore(url: redis.url), window: 300)
        let b = RedisFrameLedger(store: try RedisStore(url: redis.url), window: 300)
        try Self.pendingDoneReleased(a, b)
    }

    /// The marker's name holds hashes, no token; pending lives the lease, done the window.
    func testRedisMarkerKeyAndTTL() throws {
        let redis = try RedisServer()
        let store = try RedisStore(url: redis.url)
        let ledger = RedisFrameLedger(store: store, window: 300, pendingLease: 30)
        let token = "gAAAAABsecret-drain-token"
        let k = FrameKey(token: token, frameID: "f-1")
        XCTAssertEqual(try ledger.begin(k), .started)
        let name = "l2met:frame:\(SHA1.hex(Array(token.utf8))):\(SHA1.hex(Array("f-1".utf8)))"
        XCTAssertEqual(ledger.redisKey(k), name)
        XCTAssertFalse(name.contains(token))
        let keys = try TestRedis.command(redis.url, ["KEYS", "*"])
        XCTAssertEqual(keys, .array([.string(Array(name.utf8))]))
        XCTAssertEqual(try TestRedis.command(redis.url, ["GET", name]), .string(Array("pending".utf8)))
        guard case .integer(let pendingTTL) = try TestRedis.command(redis.url, ["TTL", name]) else { return XCTFail("no TTL") }
        XCTAssertTrue((1...30).contains(pendingTTL), "pending TTL \(pendingTTL)")

        try ledger.finish(k)
        XCTAssertEqual(try TestRedis.command(redis.url, ["GET", name]), .string(Array("done".utf8)))
        guard case .integer(let doneTTL) = try TestRedis.command(redis.url, ["TTL", name]) else { return XCTFail("no TTL") }
        XCTAssertTrue((31...300).contains(doneTTL), "done TTL \(doneTTL)")

        let released = FrameKey(token: token, frameID: "f-2")
        XCTAssertEqual(try ledger.begin(released), .started)
        try ledger.release(released)
        XCTAssertEqual(try TestRedis.command(redis.url, ["EXISTS", ledger.redisKey(released)]), .integer(0))
    }

    /// A marker whose pending lease ran out (its receiver died) lets the body be taken again.
    func testRedisPendingMarkerExpires() throws {
        let redis = try RedisServer()
        let store = try RedisStore(url: redis.url)
        let ledger = RedisFrameLedger(store: store, window: 300)
        let k = FrameKey(token: "t", frameID: "f")
        XCTAssertEqual(try ledger.begin(k), .started)
        // What the lease's end does, without waiting for it.
        try TestRedis.command(redis.url, ["PEXPIRE", ledger.redisKey(k), "1"])
        var start = try ledger.begin(k)
        let end = Date().addingTimeInterval(5)
        while start == .pending, Date() < end {
            Thread.sleep(forTimeInterval: 0.01)
            start = try ledger.begin(k)
        }
        XCTAssertEqual(start, .started)
    }

    func testRedisUnreachableThrows() throws {
        let redis = try RedisServer()
        let ledger = RedisFrameLedger(store: try RedisStore(url: redis.url, connectTimeout: 1), window: 300)
        redis.stop()
        XCTAssertThrowsError(try ledger.begin(FrameKey(token: "t", frameID: "f"))) { error in
            XCTAssertTrue(error is StoreError, "\(error)")
        }
    }

    func testMemoryMarkersExpire() throws {
        let clock = TestClock(1_000)
        let ledger = MemoryFrameLedger(window: 300, pendingLease: 30, now: { clock.now })
        let pending = FrameKey(token: "t", frameID: "pending")
        let done = FrameKey(token: "t", frameID: "done")
        XCTAssertEqual(try ledger.begin(pending), .started)
        XCTAssertEqual(try ledger.begin(done), .started)
        try ledger.finish(done)
        clock.now += 29
        XCTAssertEqual(try ledger.begin(pending), .pending)
        clock.now += 1
        XCTAssertEqual(try ledger.begin(pending), .started, "a pending marker lasts the lease")
        XCTAssertEqual(try ledger.begin(done), .done)
        clock.now = 1_000 + 299
        XCTAssertEqual(try ledger.begin(done), .done)
        clock.now = 1_000 + 300
        XCTAssertEqual(try ledger.begin(done), .started, "a done marker lasts the window")
    }

    func testMemoryLedgerIsBounded() throws {
        let clock = TestClock(1_000)
        let ledger = MemoryFrameLedger(window: 300, capacity: 100, now: { clock.now })
        for i in 0..<1_000 {
            let k = FrameKey(token: "t", frameID: "f\(i)")
            XCTAssertEqual(try ledger.begin(k), .started)
            if i % 3 == 0 { try ledger.release(k) } else { try ledger.finish(k) }
            XCTAssertLessThanOrEqual(ledger.count, 100)
        }
        // The newest are still known; the oldest were pushed out.
        XCTAssertEqual(try ledger.begin(FrameKey(token: "t", frameID: "f998")), .done)
        XCTAssertEqual(try ledger.begin(FrameKey(token: "t", frameID: "f1")), .started)
        // Expired markers go when the clock passes them.
        clock.now += 301
        _ = try ledger.begin(FrameKey(token: "t", frameID: "later"))
        XCTAssertEqual(ledger.count, 1)
    }
}

/// A settable clock (epoch seconds) for the in-memory ledger.
final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Int64
    init(_ start: Int64) { value = start }
    var now: Int64 {
        get { lock.lock(); defer { lock.unlock() }; return value }
        set { lock.lock(); value = newValue; lock.unlock() }
    }
}
