import Foundation
import L2metTestSupport
import L2metCrypto
import XCTest

/// An outlet killed in the middle of a POST: its claims are not lost, and once their lease has run out
/// another outlet posts those buckets, each exactly once.
final class OutletCrashTests: XCTestCase {
    func testBucketsOfAKilledOutletArePostedOnceByAnotherAfterTheLease() throws {
        let redis = try RedisServer()
        let key = freshFernetKey()
        let env = ["SECRETS": key]
        let silent = try SilentServer()
        defer { silent.stop() }
        let librato = try FakeLibrato()
        defer { librato.stop() }
        let common = ["--redis-url", redis.url, "--flush-interval", "0.2", "--outlet-interval", "0.1"]

        let port = freePort()
        let receiver = try ChildProcess(["serve", "--receiver", "--port", "\(port)"] + common, environment: env)
        defer { _ = receiver.stop() }
        XCTAssertTrue(Drain.waitUntilListening(port: port), "receiver did not start: \(receiver.stdout)")
        let token = try Keyring(secrets: key).encrypt("crash@example.com:crash-token-91ce", now: Int64(Date().timeIntervalSince1970))
        let now = Date().timeIntervalSince1970
        var body = ""
        for s in 0..<3 {
            for j in 1...5 { body += Drain.frame("source=web.\(s) count#jobs=\(j)", at: now) }
        }
        XCTAssertEqual(try Drain.post(port: port, body: body, token: token, query: "resolution=1"), 200)

        // Outlet A claims the buckets once they are due and posts them to a destination that never answers.
        let a = try ChildProcess(["serve", "--outlet", "--port", "\(freePort())", "--librato-url", silent.url,
                                  "--outlet-timeout", "4", "--outlet-lease", "6"] + common, environment: env)
        defer { _ = a.stop(signal: SIGKILL) }
        XCTAssertTrue(silent.wait(for: "\"jobs\"", timeout: 30), "outlet A never posted: \(a.stdout) \(a.stderr)")
        // Killed mid-POST: no acknowledgement, no clean stop.
        XCTAssertNotNil(a.stop(signal: SIGKILL, timeout: 10))
        XCTAssertEqual(a.process.terminationReason, .uncaughtSignal)

        // A's claims are still in Redis, leased to it.
        let claimed = try TestRedis.cli(redis.url, ["--raw", "ZRANGE", "l2met:claimed:0", "0", "-1", "WITHSCORES"])
            .split(separator: "\n").map(String.init)
        XCTAssertEqual(claimed.count, 6, "A should hold the three buckets: \(claimed)")
        let leaseEnds = stride(from: 1, to: claimed.count, by: 2).compactMap { Double(claimed[$0]) }
        let leaseEnd = Date(timeIntervalSince1970: leaseEnds.min() ?? 0)

        // Outlet B, with a working destination, takes them over once the lease has run out.
        let b = try ChildProcess(["serve", "--outlet", "--port", "\(freePort())", "--librato-url", librato.url] + common,
                                 environment: env)
        defer { _ = b.stop() }
        func jobs() -> [[String: Any]] { librato.gauges.filter { $0["name"] as? String == "jobs" } }
        XCTAssertTrue(librato.wait(timeout: 40) { _ in jobs().count >= 3 }, "B did not post A's buckets: \(b.stdout)")
        // Let a duplicate show up if there is one: B polls every 0.1 s.
        Thread.sleep(forTimeInterval: 1.5)
        XCTAssertEqual(b.stop(), 0, b.stdout)

        let got = jobs()
        XCTAssertEqual(got.count, 3, "each bucket exactly once: \(got)")
        XCTAssertEqual(Set(got.compactMap { $0["source"] as? String }), ["web.0", "web.1", "web.2"])
        for g in got { XCTAssertEqual((g["value"] as? NSNumber)?.doubleValue, 15, "\(g)") }
        for r in librato.requests {
            XCTAssertGreaterThanOrEqual(r.at, leaseEnd, "B posted a bucket while A's lease still held it")
        }
        // Nothing left behind: no claim, nothing due, no bucket data.
        let keys = try TestRedis.cli(redis.url, ["--raw", "KEYS", "*"]).split(separator: "\n").map(String.init)
        XCTAssertEqual(keys.filter { !$0.hasPrefix("l2met:flush:") }, [], "left in Redis: \(keys)")
        for out in [a.stdout, a.stderr, b.stdout, b.stderr, receiver.stdout] {
            XCTAssertFalse(out.contains("crash-token-91ce"), "the Librato token must not be logged: \(out)")
        }
    }

    /// SIGTERM while an outlet's request hangs: the buckets of the same claim it had not tried yet are
    /// given back and another outlet posts them at once, not a lease later; the hung request, aborted
    /// after the stop grace, goes back to the store as a failed attempt and is posted after its back-off.
    func testAnOutletStoppedWithSigtermGivesBackWhatItHadNotTried() throws {
        let redis = try RedisServer()
        let key = freshFernetKey()
        let env = ["SECRETS": key]
        let silent = try SilentServer()
        defer { silent.stop() }
        let librato = try FakeLibrato()
        defer { librato.stop() }
        let common = ["--redis-url", redis.url, "--flush-interval", "0.2", "--outlet-interval", "0.1"]
        let port = freePort()
        let receiver = try ChildProcess(["serve", "--receiver", "--port", "\(port)"] + common, environment: env)
        defer { _ = receiver.stop() }
        XCTAssertTrue(Drain.waitUntilListening(port: port), "receiver did not start: \(receiver.stdout)")
        let users = ["first@example.com", "second@example.com"]
        let keyring = try Keyring(secrets: key)
        let now = Date().timeIntervalSince1970
        for user in users {
            let token = keyring.encrypt("\(user):token-of-\(user.prefix(5))", now: Int64(now))
            var body = ""
            for s in 0..<3 { body += Drain.frame("source=web.\(s) count#jobs=\(s + 1)", at: now) }
            XCTAssertEqual(try Drain.post(port: port, body: body, token: token, query: "resolution=1"), 200)
        }

        // One worker claims both accounts' buckets together and hangs on the first request.
        let a = try ChildProcess(["serve", "--outlet", "--port", "\(freePort())", "--librato-url", silent.url,
                                  "--outlet-workers", "1"] + common, environment: env)
        defer { _ = a.stop(signal: SIGKILL) }
        XCTAssertTrue(silent.wait(for: "\"jobs\"", timeout: 30), "outlet A never posted: \(a.stdout)")
        let hungUser = try XCTUnwrap(users.first { user in
            silent.requests.contains { request in
                request.split(separator: "\r\n").contains { line in
                    guard line.lowercased().hasPrefix("authorization: basic ") else { return false }
                    let decoded = Data(base64Encoded: String(line.dropFirst("authorization: basic ".count)))
                    return decoded.map { String(decoding: $0, as: UTF8.self).hasPrefix(user + ":") } ?? false
                }
            }
        }, "no account in A's request: \(silent.requests)")
        let otherUser = users.first { $0 != hungUser }!
        XCTAssertEqual(a.stop(signal: SIGTERM, timeout: 20), 0, a.stdout)
        XCTAssertTrue(a.stdout.contains("given back to the store"), a.stdout)

        // Outlet B posts the account A never tried at once (A's claims ran for 150 s).
        let b = try ChildProcess(["serve", "--outlet", "--port", "\(freePort())", "--librato-url", librato.url] + common,
                                 environment: env)
        defer { _ = b.stop() }
        func gauges(_ user: String) -> [[String: Any]] {
            librato.requests.filter { r in
                let auth = r.header("Authorization") ?? r.header("authorization") ?? ""
                return Data(base64Encoded: String(auth.dropFirst("Basic ".count)))
                    .map { String(decoding: $0, as: UTF8.self).hasPrefix(user + ":") } ?? false
            }.flatMap(\.gauges)
        }
        XCTAssertTrue(librato.wait(timeout: 30) { _ in gauges(otherUser).count >= 3 }, "B did not post \(otherUser): \(b.stdout)")
        // The request A aborted got no answer: its buckets went back as a failed attempt, due after a
        // back-off of at most a second, and B delivers them too.
        XCTAssertTrue(librato.wait(timeout: 30) { _ in gauges(hungUser).count >= 3 }, "B did not post \(hungUser): \(b.stdout)")
        Thread.sleep(forTimeInterval: 1)
        XCTAssertEqual(gauges(otherUser).map { ($0["value"] as? NSNumber)?.doubleValue ?? 0 }.sorted(), [1, 2, 3])
        XCTAssertEqual(gauges(hungUser).map { ($0["value"] as? NSNumber)?.doubleValue ?? 0 }.sorted(), [1, 2, 3])
        let claimed = try TestRedis.cli(redis.url, ["--raw", "ZRANGE", "l2met:claimed:0", "0", "-1"])
            .split(separator: "\n").map(String.init)
        XCTAssertEqual(claimed, [], "nothing stays claimed")
    }

    func testOutletLeaseIsValidated() throws {
        for (arguments, message) in [(["--outlet-lease", "30"], "must be more than --outlet-timeout"),
                                     (["--outlet-lease", "10", "--outlet-timeout", "10"], "must be more than --outlet-timeout"),
                                     (["--outlet-lease", "3", "--outlet-timeout", "1"], "at least 5 s"),
                                     (["--outlet-lease", "86401", "--outlet-timeout", "1"], "at most 86400 s")] {
            let child = try ChildProcess(["serve", "--port", "\(freePort())"] + arguments)
            child.process.waitUntilExit()
            Thread.sleep(forTimeInterval: 0.1)  // let the pipes drain
            XCTAssertNotEqual(child.process.terminationStatus, 0, "\(arguments)")
            XCTAssertTrue(child.stderr.contains(message), "\(arguments): \(child.stderr)")
        }
        // A valid lease is taken and announced.
        let port = freePort()
        let child = try ChildProcess(["serve", "--port", "\(port)", "--outlet-lease", "42", "--outlet-timeout", "10"])
        defer { _ = child.stop() }
        XCTAssertTrue(child.waitForOutput("lease=42"), child.stdout)
    }
}
