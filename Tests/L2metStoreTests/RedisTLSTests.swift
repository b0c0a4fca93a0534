import Foundation
import L2metCore
import L2metTestSupport
import XCTest
@testable import L2metStore

/// `rediss://` against a real redis-server that speaks only TLS (self-signed certificate): the store
/// behaviours through the in-process tunnel, AUTH, certificate verification on request, clean and
/// prompt failures for the wrong kind of port, reconnects after a restart, tunnels torn down with
/// the store.
final class RedisTLSTests: XCTestCase {
    private func expectUnavailable(_ body: @autoclosure () throws -> Void, _ message: String,
                                   file: StaticString = #filePath, line: UInt = #line) -> String {
        var reason = ""
        XCTAssertThrowsError(try body(), message, file: file, line: line) { error in
            guard case StoreError.unavailable(let why) = error else {
                return XCTFail("expected .unavailable, got \(error)", file: file, line: line)
            }
            reason = why
        }
        return reason
    }

    func testStoreBehavioursOverTLS() throws {
        let server = try TLSRedisServer()
        let behaviours: [(Int, (StoreBehaviours.Make) throws -> Void)] = [
            (1, StoreBehaviours.flushAndReadBack),
            (2, StoreBehaviours.appendsMerge),
            (3, StoreBehaviours.concurrentClaimsHandOutEachBucketOnce),
            (4, StoreBehaviours.acknowledgeDeletes),
            (5, StoreBehaviours.appendIntoClaimedBucket),
            (6, StoreBehaviours.partitionsSpreadKeys),
            (7, StoreBehaviours.largeBatch),
        ]
        for (db, behaviour) in behaviours {
            let url = server.url(db: db)
            XCTAssertEqual(try TestRedis.command(url, ["FLUSHDB"]), .status("OK"))
            try behaviour { partitions in try RedisStore(url: url, partitions: partitions) }
        }
        // The data really went to the TLS server's database.
        XCTAssertEqual(try TestRedis.command(server.url(db: 7), ["DBSIZE"]).isPositiveInteger, true)
    }

    func testAuthOverTLS() throws {
        let server = try TLSRedisServer(arguments: ["--requirepass", "open-sesame",
                                                     "--user", "alice", "on", ">wonderland", "~*", "&*", "+@all"])
        let good = try RedisStore(url: server.url(auth: ":open-sesame@", db: 2))
        try good.ping()
        let k = StoreBehaviours.key("tls.auth")
        try good.append([(k, StoreBehaviours.data(.counter, [5]))], dueAt: StoreBehaviours.due)
        let acl = try RedisStore(url: server.url(auth: "alice:wonderland@", db: 2))
        XCTAssertEqual(try StoreBehaviours.claimAll(acl).first?.data.sum, 5, "ACL user sees the same database")

        let bad = try RedisStore(url: server.url(auth: ":not-the-password@"))
        let why = expectUnavailable(try bad.ping(), "wrong password")
        XCTAssertTrue(why.contains("authentication"), why)
        XCTAssertFalse(why.contains("not-the-password"), "error shows the password: \(why)")
        let none = try RedisStore(url: server.url())
        _ = expectUnavailable(try none.ping(), "no password")
    }

    /// `?ssl_cert_reqs=required` verifies against the system CA store, which does not know the
    /// test's self-signed certificate: refused, saying why. Without it (the default) the same server works.
    func testVerificationRequiredRefusesASelfSignedCertificate() throws {
        let server = try TLSRedisServer()
        let verifying = try RedisStore(url: server.url(auth: ":topsecret@", query: "?ssl_cert_reqs=required"),
                                       connectTimeout: 2)
        XCTAssertTrue(verifying.url.verifyCertificate)
        let why = expectUnavailable(try verifying.ping(), "self-signed certificate with verification on")
        XCTAssertTrue(why.contains("certificate verification failed"), why)
        XCTAssertTrue(why.contains("127.0.0.1:\(server.port)"), why)
        XCTAssertFalse(why.contains("topsecret"), why)
        _ = expectUnavailable(_ = try verifying.claim(partition: 0, now: 0, limit: 1, lease: 1), "still refused")

        let lenient = try RedisStore(url: server.url(query: "?ssl_cert_reqs=none"))
        try lenient.ping()
        try RedisStore(url: server.url()).ping()
    }

    /// A plain `redis://` URL at the TLS port: the server drops the connection; the store reports
    /// `.unavailable` (bounded by the timeouts, not a hang).
    func testPlainURLAtTheTLSPortFailsCleanly() throws {
        let server = try TLSRedisServer()
        let store = try RedisStore(url: "redis://127.0.0.1:\(server.port)", connectTimeout: 1, commandTimeout: 2,
                                   lostReplyRetryWindow: 1)
        let started = Date()
        _ = expectUnavailable(try store.ping(), "redis:// at a TLS port")
        _ = expectUnavailable(try store.append([(StoreBehaviours.key("x"), StoreBehaviours.data(.counter, [1]))],
                                               dueAt: StoreBehaviours.due), "append")
        XCTAssertLessThan(Date().timeIntervalSince(started), 30, "must fail, not hang")
    }

    /// A `rediss://` URL at a plain port: the handshake fails (or times out after connectTimeout).
    func testTLSURLAtAPlainPortFailsCleanly() throws {
        let server = try RedisServer()
        let store = try RedisStore(url: "rediss://:topsecret@127.0.0.1:\(server.port)", connectTimeout: 1, commandTimeout: 2)
        let started = Date()
        let why = expectUnavailable(try store.ping(), "rediss:// at a plain port")
        XCTAssertTrue(why.contains("TLS"), why)
        XCTAssertFalse(why.contains("topsecret"), why)
        _ = expectUnavailable(_ = try store.claim(partition: 0, now: 0, limit: 1, lease: 1), "claim")
        XCTAssertLessThan(Date().timeIntervalSince(started), 30, "must fail, not hang")
    }

    func testTLSURLAtAClosedPortFailsCleanly() throws {
        let port = freePort()
        let store = try RedisStore(url: "rediss://127.0.0.1:\(port)", connectTimeout: 1)
        let why = expectUnavailable(try store.ping(), "nothing listening")
        XCTAssertTrue(why.contains("127.0.0.1:\(port)"), why)
        XCTAssertTrue(why.contains("refused"), why)
    }

    /// Redis restarts: calls fail with `.unavailable`, then the store reconnects through a new tunnel
    /// and every count arrives.
    func testReconnectsThroughTheTunnelAfterARestart() throws {
        let server = try TLSRedisServer(arguments: ["--appendonly", "yes", "--appendfsync", "always"])
        let store = try RedisStore(url: server.url(), connectTimeout: 0.5, commandTimeout: 2, lostReplyRetryWindow: 1)
        let k = StoreBehaviours.key("tls.jobs")
        func batch(_ v: Double) -> [(key: BucketKey, data: BucketData)] { [(k, StoreBehaviours.data(.counter, [v]))] }
        try store.append(batch(1), dueAt: StoreBehaviours.due)
        var expected = 1.0

        server.stop()
        _ = expectUnavailable(try store.append(batch(10), dueAt: StoreBehaviours.due), "append while stopped")
        _ = expectUnavailable(try store.ping(), "ping while stopped")

        try server.start()
        let until = Date().addingTimeInterval(15)
        while true {
            do {
                try store.append(batch(10), dueAt: StoreBehaviours.due)
                expected += 10
                break
            } catch {
                guard case StoreError.unavailable = error else { return XCTFail("unexpected \(error)") }
                if Date() > until { return XCTFail("store did not reconnect: \(error)") }
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
        let claimed = try StoreBehaviours.claimAll(store)
        XCTAssertEqual(claimed.map(\.key), [k])
        XCTAssertEqual(claimed.first?.data.sum, expected, "every appended count arrives")
    }

    /// A reply the server sends just before it closes (QUIT) still reaches hiredis; then the
    /// connection reads as closed, and a new one works.
    func testReplyBeforeTheServerClosesArrives() throws {
        let server = try TLSRedisServer()
        let url = try RedisURL(parsing: server.url())
        let c = try RedisConnection(url: url, connectTimeout: 2, commandTimeout: 5)
        XCTAssertEqual(try c.pipeline([RedisCommand("SET", "k", "v"), RedisCommand("QUIT")]), [.status("OK"), .status("OK")])
        XCTAssertThrowsError(try c.pipeline([RedisCommand("PING")]), "the server closed the connection")
        XCTAssertTrue(c.broken)
        XCTAssertEqual(try TestRedis.command(url, ["GET", "k"]), .string(Array("v".utf8)))
    }

    /// The store's tunnels (and so its server connections) go when the store goes.
    func testTunnelsCloseWhenTheStoreIsReleased() throws {
        let server = try TLSRedisServer()
        let watcher = try RedisConnection(url: RedisURL(parsing: server.url()), connectTimeout: 2, commandTimeout: 5)
        func clients() throws -> Int {
            guard case .string(let list) = try watcher.pipeline([RedisCommand("CLIENT", "LIST")])[0] else { return -1 }
            return String(decoding: list, as: UTF8.self).split(separator: "\n").count
        }
        XCTAssertEqual(try clients(), 1)
        do {
            let store = try RedisStore(url: server.url(), poolSize: 3)
            DispatchQueue.concurrentPerform(iterations: 6) { _ in try? store.ping() }
            try store.ping()
            XCTAssertGreaterThan(try clients(), 1, "the store's connections are open")
        }
        let until = Date().addingTimeInterval(10)
        while try clients() > 1, Date() < until { Thread.sleep(forTimeInterval: 0.05) }
        XCTAssertEqual(try clients(), 1, "the released store's tunnels must close their server connections")
    }
}

private extension RedisReply {
    var isPositiveInteger: Bool {
        if case .integer(let n) = self { return n > 0 }
        return false
    }
}
