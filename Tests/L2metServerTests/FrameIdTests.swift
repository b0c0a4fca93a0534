import Foundation
import L2metHTTP
import L2metStore
import L2metTestSupport
import XCTest

/// `Logplex-Frame-Id` (a body logplex sends again is counted once, across receivers sharing Redis) and
/// log-shuttle's `Logplex-Drop-Count`/`Logplex-Lost-Count`, on the real `l2met` binary with a real
/// redis-server of the test's own and a fake Librato on loopback.
final class FrameIdTests: XCTestCase {
    let user = "frames@example.com"

    /// POSTs `body` to `/logs?query` with extra headers; returns the whole answer.
    func post(port: Int, body: String, token: String, query: String = "resolution=1",
              headers: [(String, String)] = []) throws -> HTTPClientResponse {
        let client = try HTTPClientConnection(host: "127.0.0.1", port: port, timeout: 10)
        defer { client.close() }
        let all = [("Content-Type", "application/logplex-1"), ("Authorization", Drain.authorization(token: token))] + headers
        return try client.request(method: "POST", path: "/logs?\(query)", headers: all, body: Array(body.utf8))
    }

    /// The value of a series without labels in `GET /metrics`, nil when absent.
    func series(port: Int, _ name: String) throws -> Double? {
        let (_, text) = try Drain.get(port: port, path: "/metrics")
        for line in text.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Double(line.dropFirst(name.count + 1))
        }
        return nil
    }

    /// The sum of the `value` of every accepted gauge named `name`.
    func delivered(_ librato: FakeLibrato, _ name: String) -> Double {
        librato.gauges.filter { $0["name"] as? String == name }
            .reduce(0) { $0 + (($1["value"] as? NSNumber)?.doubleValue ?? 0) }
    }

    func start(_ mode: [String], redis: RedisServer, librato: FakeLibrato, key: String,
               extra: [String] = []) throws -> (ChildProcess, Int) {
        let port = freePort()
        let child = try ChildProcess(["serve"] + mode + ["--port", "\(port)", "--redis-url", redis.url,
                                                         "--librato-url", librato.url, "--flush-interval", "0.2",
                                                         "--outlet-interval", "0.1", "--deadline", "5"] + extra,
                                     environment: ["SECRETS": key])
        XCTAssertTrue(Drain.waitUntilListening(port: port), "l2met \(mode) did not start: \(child.stdout) \(child.stderr)")
        return (child, port)
    }

    func testRetriedBodyIsCountedOnceAcrossReceivers() throws {
        let redis = try RedisServer()
        let key = freshFernetKey()
        let librato = try FakeLibrato()
        defer { librato.stop() }
        let (a, portA) = try start(["--receiver"], redis: redis, librato: librato, key: key)
        defer { _ = a.stop() }
        let (b, portB) = try start(["--receiver"], redis: redis, librato: librato, key: key)
        defer { _ = b.stop() }
        let (outlet, _) = try start(["--outlet"], redis: redis, librato: librato, key: key)
        defer { _ = outlet.stop() }
        let token = try L2metCryptoHelper.token(key: key, plaintext: "\(user):librato-secret")

        let now = Date().timeIntervalSince1970
        let body = (0..<3).map { Drain.frame("count#hits=1 source=web.\($0)", at: now) }.joined()  // 3 hits a body
        let plain = (0..<2).map { _ in Drain.frame("count#plain=1", at: now) }.joined()  // 2 a body
        func frame(_ id: String) -> [(String, String)] { [("Logplex-Frame-Id", id)] }

        // The same body and frame id at A, then at B (logplex saw no answer in time), then at A again.
        XCTAssertEqual(try post(port: portA, body: body, token: token, headers: frame("f-1")).status, 200)
        XCTAssertEqual(try post(port: portB, body: body, token: token, headers: frame("f-1")).status, 200)
        XCTAssertEqual(try post(port: portA, body: body, token: token, headers: frame("f-1")).status, 200)
        // Another frame id is another body.
        XCTAssertEqual(try post(port: portB, body: body, token: token, headers: frame("f-2")).status, 200)
        // No frame id: always counted.
        XCTAssertEqual(try post(port: portA, body: plain, token: token).status, 200)
        XCTAssertEqual(try post(port: portB, body: plain, token: token).status, 200)

        // A body another receiver is taking right now (its marker pending) is refused for a retry;
        // once that marker is gone (released), the retry is taken.
        let busy = FrameKey(token: token, frameID: "f-busy")
        let marker = "l2met:frame:\(busy.tokenHash):\(busy.frameHash)"
        XCTAssertEqual(try TestRedis.cli(redis.url, ["SET", marker, "pending", "EX", "60"]).trimmingCharacters(in: .whitespacesAndNewlines), "OK")
        let refused = try post(port: portB, body: body, token: token, headers: frame("f-busy"))
        XCTAssertEqual(refused.status, 503)
        XCTAssertNotNil(refused.headers.first { $0.name == "retry-after" }, "503 without Retry-After")
        try TestRedis.cli(redis.url, ["DEL", marker])
        XCTAssertEqual(try post(port: portB, body: body, token: token, headers: frame("f-busy")).status, 200)

        // f-1 once, f-2 once, f-busy once; the body without a frame id twice.
        XCTAssertTrue(librato.wait(timeout: 40) { _ in self.delivered(librato, "hits") >= 9 && self.delivered(librato, "plain") >= 4 },
                      "delivered hits \(delivered(librato, "hits")), plain \(delivered(librato, "plain")); outlet said \(outlet.stdout)")
        Thread.sleep(forTimeInterval: 2)  // a second count of f-1 would show up by now
        XCTAssertEqual(delivered(librato, "hits"), 9)
        XCTAssertEqual(delivered(librato, "plain"), 4)

        XCTAssertEqual(try series(port: portA, "l2met_receiver_duplicate_bodies_total"), 1)
        XCTAssertEqual(try series(port: portB, "l2met_receiver_duplicate_bodies_total"), 1)
        XCTAssertEqual(try series(port: portB, "l2met_receiver_frame_in_progress_total"), 1)
        XCTAssertEqual(try series(port: portA, "l2met_receiver_unchecked_bodies_total"), 0)

        // The markers are named by hashes only, and expire.
        let markers = try TestRedis.cli(redis.url, ["KEYS", "l2met:frame:*"]).split(separator: "\n")
        XCTAssertEqual(markers.count, 3, "\(markers)")
        XCTAssertFalse(markers.contains { $0.contains(token) })
        let ttl = Int(try TestRedis.cli(redis.url, ["TTL", String(markers[0])]).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -9
        XCTAssertTrue((1...300).contains(ttl), "marker TTL \(ttl)")
        let printed = a.stdout + a.stderr + b.stdout + b.stderr + outlet.stdout + outlet.stderr
        XCTAssertFalse(printed.contains(token), "a drain token leaked into the logs")
    }

    func testWindowZeroTurnsTheCheckOff() throws {
        let redis = try RedisServer()
        let key = freshFernetKey()
        let librato = try FakeLibrato()
        defer { librato.stop() }
        let (l2met, port) = try start([], redis: redis, librato: librato, key: key, extra: ["--frame-id-window", "0"])
        defer { _ = l2met.stop() }
        let token = try L2metCryptoHelper.token(key: key, plaintext: "\(user):librato-secret")
        let body = Drain.frame("count#hits=1", at: Date().timeIntervalSince1970)
        for _ in 0..<2 {
            XCTAssertEqual(try post(port: port, body: body, token: token, headers: [("Logplex-Frame-Id", "f-1")]).status, 200)
        }
        XCTAssertTrue(librato.wait(timeout: 40) { _ in self.delivered(librato, "hits") >= 2 }, "hits \(delivered(librato, "hits"))")
        XCTAssertEqual(try TestRedis.cli(redis.url, ["KEYS", "l2met:frame:*"]).trimmingCharacters(in: .whitespacesAndNewlines), "")
    }

    /// Redis out of reach when the marker is checked: the body is taken anyway (at least once), counted
    /// in /metrics, and delivered once Redis is back.
    func testUnreachableLedgerTakesTheBodyUnchecked() throws {
        let redis = try RedisServer()
        let key = freshFernetKey()
        let librato = try FakeLibrato()
        defer { librato.stop() }
        let (l2met, port) = try start([], redis: redis, librato: librato, key: key)
        defer { _ = l2met.stop() }
        let token = try L2metCryptoHelper.token(key: key, plaintext: "\(user):librato-secret")
        redis.stop()
        let body = (0..<3).map { Drain.frame("count#hits=1 source=web.\($0)", at: Date().timeIntervalSince1970) }.joined()
        XCTAssertEqual(try post(port: port, body: body, token: token, headers: [("Logplex-Frame-Id", "f-1")]).status, 200)
        XCTAssertEqual(try series(port: port, "l2met_receiver_unchecked_bodies_total"), 1)
        try redis.start()
        XCTAssertTrue(librato.wait(timeout: 40) { _ in self.delivered(librato, "hits") >= 3 },
                      "hits \(delivered(librato, "hits")); l2met said \(l2met.stdout)")
        XCTAssertEqual(delivered(librato, "hits"), 3)
    }

    func testLogShuttleLossHeadersBecomeCounters() throws {
        let redis = try RedisServer()
        let key = freshFernetKey()
        let librato = try FakeLibrato()
        defer { librato.stop() }
        let (l2met, port) = try start([], redis: redis, librato: librato, key: key)
        defer { _ = l2met.stop() }
        let token = try L2metCryptoHelper.token(key: key, plaintext: "\(user):librato-secret")
        let body = Drain.frame("count#shipped=1 source=web.1", at: Date().timeIntervalSince1970)
        XCTAssertEqual(try post(port: port, body: body, token: token,
                                headers: [("Logplex-Drop-Count", "7"), ("Logplex-Lost-Count", "2")]).status, 200)
        // Values that are not counts are ignored, not refused.
        XCTAssertEqual(try post(port: port, body: body, token: token,
                                headers: [("Logplex-Drop-Count", "many"), ("Logplex-Lost-Count", "-4")]).status, 200)
        XCTAssertEqual(try post(port: port, body: body, token: token, headers: [("Logplex-Drop-Count", "0")]).status, 200)

        XCTAssertTrue(librato.wait(timeout: 40) { _ in
            self.delivered(librato, "logshuttle.dropped") >= 7 && self.delivered(librato, "logshuttle.lost") >= 2
                && self.delivered(librato, "shipped") >= 3
        }, "gauges: \(librato.gauges); l2met said \(l2met.stdout)")
        Thread.sleep(forTimeInterval: 1)
        XCTAssertEqual(delivered(librato, "logshuttle.dropped"), 7)
        XCTAssertEqual(delivered(librato, "logshuttle.lost"), 2)
        let dropped = librato.gauges.first { $0["name"] as? String == "logshuttle.dropped" }
        XCTAssertNil(dropped?["source"], "the loss counters have no source")
        XCTAssertEqual(delivered(librato, "shipped"), 3)
    }
}
