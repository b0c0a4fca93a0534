import Foundation
import L2metTestSupport
import L2metCore
import XCTest
@testable import L2metStore

/// What Redis refuses in an append: each bucket is applied whole or not at all, the refused ones are
/// reported, and a retry under the same flush id applies nothing twice.
final class RedisAppendRefusalTests: XCTestCase {
    /// A bucket past `proto-max-bulk-len`: only it is refused (its marker still set for the rest), the
    /// retry answers the same report, and the other buckets of the chunk are applied once.
    func testABucketPastTheStringLimitIsRefusedAloneAndReportedAgainOnRetry() throws {
        let server = try RedisServer(arguments: ["--proto-max-bulk-len", "1mb"])
        let store = try RedisStore(url: server.url)
        let hot = StoreBehaviours.key("hot", kind: .measurement)
        let quiet = StoreBehaviours.key("quiet")
        // A sketched record is bounded (a few KB here), but a bucket's string grows with every flush into
        // its interval: flushes that fit, until the next one would pass 1 MB.
        let big = StoreBehaviours.data(.measurement, (0..<20_000).map { i in
            (i % 2 == 0 ? 1 : -1) * pow(10, Double(i % 1200) / 20 - 30)
        })
        XCTAssertGreaterThan({ var out: [UInt8] = []; BucketCodec.encode(big, into: &out); return out.count }(), 2_000)
        var fitted = 0
        while try store.appendReporting([(hot, big)], flushID: "fill.\(fitted)", dueAt: StoreBehaviours.due).isEmpty {
            fitted += 1
            XCTAssertLessThan(fitted, 2_000, "the string limit was never reached")
            if fitted >= 2_000 { return }
        }
        XCTAssertGreaterThan(fitted, 10)
        let batch = [(key: quiet, data: StoreBehaviours.data(.counter, [1])), (key: hot, data: big),
                     (key: quiet, data: StoreBehaviours.data(.counter, [2]))]
        let refused = try store.appendReporting(batch, flushID: "f2", dueAt: StoreBehaviours.due)
        XCTAssertEqual(refused.map(\.index), [1])
        XCTAssertEqual(refused.first?.reason, "too_large", "\(refused)")
        XCTAssertTrue(refused.first?.isPermanent ?? false)
        // The same id again (a lost reply): the same report, nothing applied twice.
        XCTAssertEqual(try store.appendReporting(batch, flushID: "f2", dueAt: StoreBehaviours.due), refused)
        XCTAssertThrowsError(try store.append(batch, flushID: "f3", dueAt: StoreBehaviours.due))

        // What was refused is not held.
        var stored: Int64 = 0
        for k in [hot, quiet] {
            if case .integer(let n) = try TestRedis.command(server.url, ["STRLEN", "l2met:b:" + k.storeKey]) { stored += n }
        }
        XCTAssertEqual(try store.heldBytes(tokens: ["tok"], now: StoreBehaviours.t0).map { Int64($0.value) }, [stored])

        let claimed = try StoreBehaviours.claimAll(store)
        XCTAssertEqual(claimed.first { $0.key == quiet }?.data.sum, 6, "1 + 2 (f2), then 1 + 2 (f3): each once")
        XCTAssertEqual(claimed.first { $0.key == hot }?.data.count, fitted * 20_000, "every flush that fitted, once")
    }

    /// Out of memory: the script's first write is refused, so nothing of the chunk is applied and no
    /// marker is left; once Redis has room the same chunk is applied, once.
    func testOutOfMemoryRefusesTheWholeChunkAndItPassesLater() throws {
        let server = try RedisServer(arguments: ["--maxmemory-policy", "noeviction"])
        let store = try RedisStore(url: server.url)
        // 2 MB of unrelated data, then a maxmemory below what Redis holds.
        let filler = String(repeating: "x", count: 16 * 1024)
        for i in 0..<128 { try TestRedis.command(server.url, ["SET", "filler:\(i)", filler]) }
        try TestRedis.command(server.url, ["CONFIG", "SET", "maxmemory", "1mb"])
        let keys = (0..<50).map { StoreBehaviours.key("oom.\($0)") }
        let batch = keys.map { (key: $0, data: StoreBehaviours.data(.counter, [1])) }
        let refused = try store.appendReporting(batch, flushID: "oom", dueAt: StoreBehaviours.due)
        XCTAssertEqual(refused.count, 50, "every bucket refused")
        XCTAssertEqual(refused.first?.reason, "out_of_memory", "\(refused)")
        XCTAssertFalse(refused.first?.isPermanent ?? true)
        guard case .integer(0) = try TestRedis.command(server.url, ["EXISTS", "l2met:flush:oom:0"]) else {
            return XCTFail("no marker for a chunk that applied nothing")
        }
        XCTAssertEqual(try store.heldBytes(tokens: ["tok"], now: StoreBehaviours.t0), ["tok": 0], "nothing held for a refused chunk")
        try TestRedis.command(server.url, ["CONFIG", "SET", "maxmemory", "64mb"])
        XCTAssertEqual(try store.appendReporting(batch, flushID: "oom", dueAt: StoreBehaviours.due), [])
        XCTAssertEqual(try store.appendReporting(batch, flushID: "oom", dueAt: StoreBehaviours.due), [])
        XCTAssertEqual(try store.heldBytes(tokens: ["tok"], now: StoreBehaviours.t0), ["tok": 50 * BucketCodec.headerSize])
        XCTAssertEqual(try StoreBehaviours.claimAll(store).reduce(0) { $0 + $1.data.sum }, 50)
    }
}
