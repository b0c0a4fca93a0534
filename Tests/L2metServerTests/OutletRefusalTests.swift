import Foundation
import L2metTestSupport
import L2metCrypto
import L2metHTTP
import XCTest

/// Librato refuses some accounts for good (400 with an error body, 401): those buckets are logged with
/// Librato's error but never a token, counted, dropped without a retry, and the other accounts'
/// buckets of the same poll are still delivered.
final class OutletRefusalTests: XCTestCase {
    func testRefusedAccountsAreDroppedAndTheOthersDelivered() throws {
        let redis = try RedisServer()
        let key = freshFernetKey()
        let accounts = [("good@example.com", "good-token-1a2b3c"), ("badname@example.com", "badname-token-4d5e6f"),
                        ("badauth@example.com", "badauth-token-7a8b9c")]
        let librato = try FakeLibrato { request in
            let auth = request.header("authorization") ?? ""
            let credentials = Data(base64Encoded: String(auth.dropFirst("Basic ".count)))
                .map { String(decoding: $0, as: UTF8.self) } ?? ""
            if credentials.hasPrefix("badname@") {
                return HTTPResponse(status: 400, headers: [("Content-Type", "application/json")],
                                    body: Array("{\"errors\":{\"params\":{\"name\":[\"is not valid\"]}}}".utf8))
            }
            if credentials.hasPrefix("badauth@") {
                // A careless error body that quotes the credentials back.
                return HTTPResponse(status: 401, headers: [("Content-Type", "application/json")],
                                    body: Array("{\"errors\":{\"request\":[\"Authorization Required for \(credentials)\"]}}".utf8))
            }
            return nil
        }
        defer { librato.stop() }
        let port = freePort()
        let l2met = try ChildProcess(["serve", "--port", "\(port)", "--redis-url", redis.url, "--librato-url", librato.url,
                                      "--flush-interval", "0.2", "--outlet-interval", "0.1", "--outlet-workers", "1"],
                                     environment: ["SECRETS": key])
        defer { _ = l2met.stop() }
        XCTAssertTrue(Drain.waitUntilListening(port: port), "l2met did not start: \(l2met.stdout)")
        let keyring = try Keyring(secrets: key)
        let drainTokens = accounts.map { keyring.encrypt("\($0.0):\($0.1)", now: Int64(Date().timeIntervalSince1970)) }

        // Every account's lines in the same second: their buckets are due, and claimed, together.
        let now = Date().timeIntervalSince1970
        for token in drainTokens {
            var body = ""
            for s in 0..<3 { body += Drain.frame("source=web.\(s) count#hits=2 measure#db=\(s + 1)ms", at: now) }
            XCTAssertEqual(try Drain.post(port: port, body: body, token: token, query: "resolution=1"), 200)
        }

        func requests(_ user: String) -> [FakeLibrato.Recorded] {
            librato.requests.filter {
                let auth = $0.header("Authorization") ?? $0.header("authorization") ?? ""
                return Data(base64Encoded: String(auth.dropFirst("Basic ".count)))
                    .map { String(decoding: $0, as: UTF8.self).hasPrefix(user + ":") } ?? false
            }
        }
        XCTAssertTrue(librato.wait(timeout: 30) { _ in
            accounts.allSatisfy { !requests($0.0).isEmpty }
        }, "not every account was posted: \(librato.requests.count) requests; \(l2met.stdout)")
        XCTAssertTrue(l2met.waitForOutput("status=401", timeout: 10), l2met.stdout)
        Thread.sleep(forTimeInterval: 2)  // a retry would show up by now

        // The good account: every bucket, once.
        let good = requests("good@example.com")
        XCTAssertTrue(good.allSatisfy { $0.status == 200 })
        let hits = good.flatMap(\.gauges).filter { $0["name"] as? String == "hits" }
        XCTAssertEqual(hits.count, 3)
        XCTAssertEqual(hits.reduce(0.0) { $0 + (($1["value"] as? NSNumber)?.doubleValue ?? 0) }, 6)
        XCTAssertEqual(good.flatMap(\.gauges).filter { $0["name"] as? String == "db" }.count, 3)
        // The refused accounts, never retried: a 400 for 6 buckets is split until each bucket was refused
        // on its own (1 + 2 + 4 + 4 requests); a 401 refuses the account's credentials: one request.
        XCTAssertEqual(requests("badname@example.com").map(\.status), Array(repeating: 400, count: 11))
        XCTAssertEqual(requests("badauth@example.com").map(\.status), [401])

        // Logged with Librato's error and the user, never a token.
        let out = l2met.stdout + l2met.stderr
        let refusals = out.split(separator: "\n").filter {
            $0.contains("destination refused the gauges") || $0.contains("destination refused the account's credentials")
        }
        XCTAssertEqual(refusals.count, 7, out)
        XCTAssertTrue(refusals.contains { $0.contains("status=400") && $0.contains("is not valid") && $0.contains("badname@example.com") },
                      "the 400 is not logged with Librato's error: \(refusals)")
        XCTAssertTrue(refusals.contains { $0.contains("status=401") && $0.contains("Authorization Required") },
                      "the 401 is not logged with Librato's error: \(refusals)")
        for (_, secret) in accounts { XCTAssertFalse(out.contains(secret), "a Librato token is in the logs: \(out)") }
        for token in drainTokens { XCTAssertFalse(out.contains(token), "a drain token is in the logs") }

        // Counted: 6 buckets each (3 sources × hits and db), dropped as refused or unauthorized; requests by status.
        let metrics = try Drain.get(port: port, path: "/metrics").1
        func series(_ text: String) -> Double? {
            metrics.split(separator: "\n").first { $0.hasPrefix(text + " ") }.flatMap { Double($0.split(separator: " ").last!) }
        }
        XCTAssertEqual(series("l2met_outlet_dropped_buckets_total{reason=\"refused\"}"), 6, metrics)
        XCTAssertEqual(series("l2met_outlet_dropped_buckets_total{reason=\"unauthorized\"}"), 6, metrics)
        XCTAssertEqual(series("l2met_outlet_requests_total{status=\"400\"}"), 11, metrics)
        XCTAssertEqual(series("l2met_outlet_requests_total{status=\"401\"}"), 1, metrics)
        XCTAssertEqual(series("l2met_outlet_retries_total"), 0, metrics)

        // Dropped means gone from the store: nothing left to claim.
        let keys = try TestRedis.cli(redis.url, ["--raw", "KEYS", "*"]).split(separator: "\n").map(String.init)
        XCTAssertEqual(keys.filter { !$0.hasPrefix("l2met:flush:") }, [], "left in Redis: \(keys)")
    }
}
