import Foundation
import L2metTestSupport
import L2metCrypto
import L2metHTTP
import XCTest

/// Two outlets on one Redis with several partitions, while Librato answers some requests 500 before
/// it accepts them: every bucket of every account is accepted exactly once, with its whole value.
final class OutletExactlyOnceTests: XCTestCase {
    func testTwoOutletsPostEachBucketOnceThroughServerErrors() throws {
        let redis = try RedisServer()
        let key = freshFernetKey()
        let env = ["SECRETS": key]
        // The first four requests, whichever outlet sends them, fail; Retry-After keeps the failing
        // outlet waiting while the other one polls the same partitions many times over.
        let failure = HTTPResponse(status: 500, headers: [("Retry-After", "1"), ("Content-Type", "application/json")],
                                   body: Array("{\"errors\":\"try again\"}".utf8))
        let librato = try FakeLibrato(script: Array(repeating: failure, count: 4))
        defer { librato.stop() }
        let common = ["--redis-url", redis.url, "--librato-url", librato.url, "--flush-interval", "0.2",
                      "--outlet-interval", "0.1", "--partitions", "4"]
        let port = freePort()
        let receiver = try ChildProcess(["serve", "--receiver", "--port", "\(port)"] + common, environment: env)
        defer { _ = receiver.stop() }
        var outlets: [ChildProcess] = []
        for _ in 0..<2 {
            outlets.append(try ChildProcess(["serve", "--outlet", "--port", "\(freePort())", "--outlet-workers", "2"] + common,
                                            environment: env))
        }
        defer { for o in outlets { _ = o.stop() } }
        XCTAssertTrue(Drain.waitUntilListening(port: port), "receiver did not start: \(receiver.stdout)")
        let users = ["one@example.com", "two@example.com"]
        let tokens = try users.map { try Keyring(secrets: key).encrypt("\($0):tok-\($0.prefix(3))", now: Int64(Date().timeIntervalSince1970)) }

        // 16 drains over about 2 seconds, alternating accounts; 5 sources: buckets in every partition.
        var sent = [0, 0]
        for i in 0..<16 {
            let now = Date().timeIntervalSince1970
            var body = ""
            for j in 0..<10 { body += Drain.frame("source=web.\(j % 5) count#hits=1 measure#work=\(j)ms", at: now) }
            XCTAssertEqual(try Drain.post(port: port, body: body, token: tokens[i % 2], query: "resolution=1"), 200)
            sent[i % 2] += 10
            Thread.sleep(forTimeInterval: 0.12)
        }

        /// The Librato user a request was sent as.
        func user(_ r: FakeLibrato.Recorded) -> String {
            let auth = r.header("Authorization") ?? r.header("authorization") ?? ""
            let decoded = Data(base64Encoded: String(auth.dropFirst("Basic ".count))).map { String(decoding: $0, as: UTF8.self) } ?? ""
            return String(decoded.prefix { $0 != ":" })
        }
        /// Accepted gauges with the Librato user their request was sent as.
        func accepted() -> [(user: String, gauge: [String: Any])] {
            librato.requests.filter { (200..<300).contains($0.status) }.flatMap { r in r.gauges.map { (user(r), $0) } }
        }
        func hits(_ user: String) -> Double {
            accepted().filter { $0.user == user && $0.gauge["name"] as? String == "hits" }
                .reduce(0) { $0 + (($1.gauge["value"] as? NSNumber)?.doubleValue ?? 0) }
        }
        XCTAssertTrue(librato.wait(timeout: 40) { _ in hits(users[0]) >= Double(sent[0]) && hits(users[1]) >= Double(sent[1]) },
                      "hits arrived: \(hits(users[0])) of \(sent[0]), \(hits(users[1])) of \(sent[1])")
        Thread.sleep(forTimeInterval: 2)  // a duplicate would show up by now

        XCTAssertEqual(librato.requests.filter { $0.status == 500 }.count, 4, "the script's failures were not all used")
        XCTAssertEqual(hits(users[0]), Double(sent[0]))
        XCTAssertEqual(hits(users[1]), Double(sent[1]))
        let ids = accepted().map { "\($0.user)|\($0.gauge["name"] ?? "")|\($0.gauge["source"] ?? "")|\($0.gauge["measure_time"] ?? "")" }
        XCTAssertEqual(ids.count, Set(ids).count, "a bucket was accepted twice: \(ids.sorted())")
        // The gauges of every failed request were accepted afterwards, once.
        for failed in librato.requests where failed.status == 500 {
            for g in failed.gauges {
                let id = "\(user(failed))|\(g["name"] ?? "")|\(g["source"] ?? "")|\(g["measure_time"] ?? "")"
                XCTAssertEqual(ids.filter { $0 == id }.count, 1, "gauge \(id) of a failed request")
            }
        }
        let workCount = accepted().filter { $0.gauge["name"] as? String == "work" }
            .reduce(0) { $0 + (($1.gauge["count"] as? NSNumber)?.intValue ?? 0) }
        XCTAssertEqual(workCount, sent[0] + sent[1])
        // The failures were retried by the outlet that got them (not dropped, not left to the other).
        let retried = outlets.filter { $0.stdout.contains("request failed; its buckets wait in the store") }
        XCTAssertFalse(retried.isEmpty, "no outlet logged a retry")
    }
}
