import Foundation
import L2metCore
import L2metCrypto
import L2metTestSupport
import Synchronization
import XCTest

/// One drain cannot slow or starve the others, on the real binary with Redis.
final class DrainIsolationTests: XCTestCase {
    /// One drain floods distinct series while another posts a few every half second: the quiet drain's
    /// delay from interval end to post stays at its normal value, and the flood's excess is dropped,
    /// counted per drain in /metrics and reported in the flooding drain's own metrics.
    func testACardinalityFloodDoesNotDelayAnotherDrain() throws {
        let redis = try RedisServer()
        let key = freshFernetKey()
        let keyring = try Keyring(secrets: key)
        let now = Int64(Date().timeIntervalSince1970)
        let librato = try FakeLibrato()
        defer { librato.stop() }
        let flood = keyring.encrypt("flood@example.com:flood-token", now: now)
        let quiet = keyring.encrypt("quiet@example.com:quiet-token", now: now)
        let limit = Int(ProcessInfo.processInfo.environment["L2MET_TEST_SERIES_LIMIT"] ?? "") ?? 300
        let port = freePort()
        let l2met = try ChildProcess(["serve", "--port", "\(port)", "--redis-url", redis.url, "--librato-url", librato.url,
                                      "--flush-interval", "0.2", "--outlet-interval", "0.1",
                                      "--max-series-per-drain", "\(limit)"], environment: ["SECRETS": key])
        defer { _ = l2met.stop() }
        XCTAssertTrue(Drain.waitUntilListening(port: port), l2met.stdout)

        func user(_ r: FakeLibrato.Recorded) -> String {
            let auth = r.header("authorization") ?? ""
            let plain = Data(base64Encoded: String(auth.dropFirst("Basic ".count))).map { String(decoding: $0, as: UTF8.self) } ?? ""
            return String(plain.prefix { $0 != "@" })
        }
        /// Seconds from each of the quiet drain's intervals' end to its gauge's arrival.
        func quietDelays(from: Double) -> [Double] {
            var first: [Int: Date] = [:]
            for r in librato.requests where r.status == 200 && user(r) == "quiet" {
                for g in r.gauges {
                    guard let t = g["measure_time"] as? Int, Double(t) >= from, first[t] == nil else { continue }
                    first[t] = r.at
                }
            }
            return first.map { $0.value.timeIntervalSince1970 - Double($0.key + 1) }.sorted()
        }

        // 12 s: the flood posts 100 new series every 50 ms (2,000 a second); the quiet drain one every 0.5 s.
        let began = Date().timeIntervalSince1970
        let flooding = DestinationOutageTests.Poster(port: port, tokens: [flood], duration: 12, interval: 0.05) { i, now in
            (0..<100).map { j in Drain.frame("measure#user.\(i * 100 + j).latency=\(j)ms source=web.\(j % 7)", at: now) }.joined()
        }
        let steady = DestinationOutageTests.Poster(port: port, tokens: [quiet], duration: 12, interval: 0.5) { i, now in
            Drain.frame("count#ticks=1 source=web.\(i % 2)", at: now)
        }
        XCTAssertEqual(flooding.wait().failures, [])
        XCTAssertEqual(steady.wait().failures, [])
        XCTAssertTrue(librato.wait(timeout: 30) { _ in quietDelays(from: began.rounded(.up)).count >= 9 })
        let delays = quietDelays(from: began.rounded(.up))
        Thread.sleep(forTimeInterval: 3)  // the flood's last intervals

        let metrics = try Drain.get(port: port, path: "/metrics").1
        func series(_ name: String) -> Double {
            metrics.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last!) } ?? -1
        }
        let droppedTotal = series("l2met_dropped_total{reason=\"series_limit\"}")
        let perDrain = series("l2met_drain_series_limited_total{drain=\"\(DrainID.of(token: flood))\"}")
        let rss = l2met.residentBytes()
        print(String(format: "during a flood of %.0f new series/s (limit %d per drain and interval): quiet drain's delay "
                     + "median %.2f s, max %.2f s; %.0f measurements dropped; l2met RSS after the flood %.1f MB",
                     2000.0, limit, delays.isEmpty ? .nan : delays[delays.count / 2], delays.last ?? .nan,
                     droppedTotal, Double(rss) / 1e6))
        XCTAssertLessThan(delays.last ?? 99, 8, "the quiet drain waited behind the flood: \(delays)")
        if limit > 0 {
            XCTAssertGreaterThan(droppedTotal, 0, metrics)
            XCTAssertEqual(perDrain, droppedTotal, "per drain, labelled by its id, never its token: \(metrics)")
            XCTAssertFalse(metrics.contains(flood), "a token in /metrics")
            // The flooding drain's own destination is told: l2met.dropped, source series_limit, adds up.
            let reports = librato.requests.filter { $0.status == 200 && user($0) == "flood" }.flatMap(\.gauges)
                .filter { $0["name"] as? String == "l2met.dropped" }
            XCTAssertEqual(Set(reports.compactMap { $0["source"] as? String }), ["series_limit"])
            XCTAssertTrue(librato.wait(timeout: 15) { _ in
                let reported = librato.requests.filter { $0.status == 200 && user($0) == "flood" }.flatMap(\.gauges)
                    .filter { $0["name"] as? String == "l2met.dropped" }
                    .reduce(0.0) { $0 + (($1["value"] as? NSNumber)?.doubleValue ?? 0) }
                return reported == droppedTotal
            }, "the drops reported to the drain do not add up to \(droppedTotal)")
            // Per interval, the flood kept at most the limit of series (its own report series aside).
            var perSecond: [Int: Set<String>] = [:]
            for g in librato.requests.filter({ $0.status == 200 && user($0) == "flood" }).flatMap(\.gauges) {
                guard let t = g["measure_time"] as? Int, let n = g["name"] as? String, n.hasPrefix("user."),
                      !n.hasSuffix(".median"), !n.hasSuffix(".perc95"), !n.hasSuffix(".perc99") else { continue }
                perSecond[t, default: []].insert("\(n) \(g["source"] ?? "")")
            }
            XCTAssertLessThanOrEqual(perSecond.values.map(\.count).max() ?? 0, limit)
        }
    }

    /// A drain that posts faster than its values per second keeps a burst's worth plus the rate; the
    /// rest is dropped, counted per drain in /metrics and reported to its own destination; another
    /// drain posting at the same time loses nothing.
    func testADrainPastItsValuesPerSecondIsCutAndToldWhileAnotherLosesNothing() throws {
        let redis = try RedisServer()
        let key = freshFernetKey()
        let keyring = try Keyring(secrets: key)
        let now = Int64(Date().timeIntervalSince1970)
        let librato = try FakeLibrato()
        defer { librato.stop() }
        let fast = keyring.encrypt("fast@example.com:fast-token", now: now)
        let quiet = keyring.encrypt("quiet@example.com:quiet-token", now: now)
        let port = freePort()
        let rate = 100  // a burst of 6,000 values (a minute's worth)
        let l2met = try ChildProcess(["serve", "--port", "\(port)", "--redis-url", redis.url, "--librato-url", librato.url,
                                      "--flush-interval", "0.2", "--outlet-interval", "0.1",
                                      "--max-values-per-second-per-drain", "\(rate)"], environment: ["SECRETS": key])
        defer { _ = l2met.stop() }
        XCTAssertTrue(Drain.waitUntilListening(port: port), l2met.stdout)

        func user(_ r: FakeLibrato.Recorded) -> String {
            let auth = r.header("authorization") ?? ""
            let plain = Data(base64Encoded: String(auth.dropFirst("Basic ".count))).map { String(decoding: $0, as: UTF8.self) } ?? ""
            return String(plain.prefix { $0 != "@" })
        }
        func sum(of name: String, user who: String) -> Double {
            librato.requests.filter { $0.status == 200 && user($0) == who }.flatMap(\.gauges)
                .filter { $0["name"] as? String == name }
                .reduce(0.0) { $0 + (($1["value"] as? NSNumber)?.doubleValue ?? 0) }
        }

        let began = Date()
        var sent = 0
        for i in 0..<10 {
            let t = Date().timeIntervalSince1970
            let body = (0..<2_000).map { j in Drain.frame("count#hits=1 source=web.\(j % 3)", at: t) }.joined()
            XCTAssertEqual(try Drain.post(port: port, body: body, token: fast, query: "resolution=1"), 200)
            sent += 2_000
            XCTAssertEqual(try Drain.post(port: port, body: Drain.frame("count#ticks=1 source=q.\(i)", at: t), token: quiet,
                                          query: "resolution=1"), 200)
        }
        let elapsed = Date().timeIntervalSince(began)

        let metrics = { (try? Drain.get(port: port, path: "/metrics").1) ?? "" }
        func series(_ text: String, _ name: String) -> Double {
            text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last!) } ?? -1
        }
        let limitedName = "l2met_drain_rate_limited_total{drain=\"\(DrainID.of(token: fast))\"}"
        let limited = series(metrics(), limitedName)
        XCTAssertEqual(series(metrics(), "l2met_dropped_total{reason=\"rate_limit\"}"), limited)
        XCTAssertFalse(metrics().contains(fast), "a token in /metrics")
        // Everything posted is either delivered or reported dropped, in the drain's own metrics.
        XCTAssertTrue(librato.wait(timeout: 20) { _ in
            sum(of: "hits", user: "fast") + sum(of: "l2met.dropped", user: "fast") == Double(sent)
                && sum(of: "ticks", user: "quiet") == 10
        }, "fast drain: \(sum(of: "hits", user: "fast")) delivered + \(sum(of: "l2met.dropped", user: "fast")) reported "
           + "of \(sent); quiet drain: \(sum(of: "ticks", user: "quiet")) of 10")
        let taken = sum(of: "hits", user: "fast")
        XCTAssertEqual(sum(of: "l2met.dropped", user: "fast"), limited, "the drain is told what /metrics counts")
        XCTAssertGreaterThanOrEqual(taken, Double(rate * 60), "a burst of a minute's worth is taken")
        XCTAssertLessThanOrEqual(taken, Double(rate * 60) + Double(rate) * (elapsed + 1), "the rate held")
        let sources = Set(librato.requests.filter { $0.status == 200 && user($0) == "fast" }.flatMap(\.gauges)
            .filter { $0["name"] as? String == "l2met.dropped" }.compactMap { $0["source"] as? String })
        XCTAssertEqual(sources, ["rate_limit"])
        XCTAssertEqual(sum(of: "l2met.dropped", user: "quiet"), 0)
    }

    /// A drain whose destination fails holds its buckets in the store; past its store bytes its new
    /// values are dropped (counted per drain, and reported to it once its destination is back),
    /// while another drain loses nothing; once its destination takes its buckets it is let in again.
    func testADrainHoldingTooMuchOfTheStoreIsCutUntilItsDestinationTakesItsBuckets() throws {
        let redisServer = try RedisServer()
        defer { redisServer.stop() }
        let key = freshFernetKey()
        let keyring = try Keyring(secrets: key)
        let now = Int64(Date().timeIntervalSince1970)
        let outage = Outage()
        let librato = try FakeLibrato { request in
            let auth = request.header("authorization") ?? ""
            let plain = Data(base64Encoded: String(auth.dropFirst("Basic ".count))).map { String(decoding: $0, as: UTF8.self) } ?? ""
            return plain.hasPrefix("full@") && outage.down.load(ordering: .relaxed)
                ? .text(503, "down for maintenance") : nil
        }
        defer { librato.stop() }
        let full = keyring.encrypt("full@example.com:full-token", now: now)
        let quiet = keyring.encrypt("quiet@example.com:quiet-token", now: now)
        let port = freePort()
        let limit = 20_000
        let l2met = try ChildProcess(["serve", "--port", "\(port)", "--redis-url", redisServer.url, "--librato-url", librato.url,
                                      "--flush-interval", "0.2", "--outlet-interval", "0.1", "--outlet-backoff-cap", "1",
                                      "--max-store-bytes-per-drain", "\(limit)"], environment: ["SECRETS": key])
        defer { _ = l2met.stop() }
        XCTAssertTrue(Drain.waitUntilListening(port: port), l2met.stdout)

        func user(_ r: FakeLibrato.Recorded) -> String {
            let auth = r.header("authorization") ?? ""
            let plain = Data(base64Encoded: String(auth.dropFirst("Basic ".count))).map { String(decoding: $0, as: UTF8.self) } ?? ""
            return String(plain.prefix { $0 != "@" })
        }
        func sum(of name: String, user who: String) -> Double {
            librato.requests.filter { $0.status == 200 && user($0) == who }.flatMap(\.gauges)
                .filter { $0["name"] as? String == name }
                .reduce(0.0) { $0 + (($1["value"] as? NSNumber)?.doubleValue ?? 0) }
        }
        func metric(_ name: String) -> Double {
            let text = (try? Drain.get(port: port, path: "/metrics").1) ?? ""
            return text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last!) } ?? 0
        }
        let limitedName = "l2met_drain_store_limited_total{drain=\"\(DrainID.of(token: full))\"}"

        // The failing drain posts 200 new series a body until the store holds its limit and it is cut.
        var posted = 0.0, quietPosted = 0.0
        let until = Date().addingTimeInterval(40)
        var i = 0
        while metric(limitedName) == 0 && Date() < until {
            let t = Date().timeIntervalSince1970
            let body = (0..<200).map { j in Drain.frame("count#hits.\(j)=1 source=s.\(i)", at: t) }.joined()
            XCTAssertEqual(try Drain.post(port: port, body: body, token: full, query: "resolution=1"), 200)
            posted += 200
            XCTAssertEqual(try Drain.post(port: port, body: Drain.frame("count#ticks=1", at: t), token: quiet,
                                          query: "resolution=1"), 200)
            quietPosted += 1
            i += 1
            Thread.sleep(forTimeInterval: 0.25)
        }
        let limited = metric(limitedName)
        XCTAssertGreaterThan(limited, 0, "the drain was never cut: \(l2met.stdout.suffix(2000))")
        XCTAssertGreaterThanOrEqual(metric("l2met_drain_store_bytes{drain=\"\(DrainID.of(token: full))\"}"), Double(limit))
        XCTAssertEqual(metric("l2met_drains_over_store_limit"), 1)
        // The other drain is not touched meanwhile.
        XCTAssertTrue(librato.wait(timeout: 20) { _ in sum(of: "ticks", user: "quiet") == quietPosted },
                      "quiet drain: \(sum(of: "ticks", user: "quiet")) of \(quietPosted)")

        // Its destination comes back: its buckets are delivered, it is told what it lost, and let in again.
        outage.down.store(false, ordering: .relaxed)
        XCTAssertTrue(librato.wait(timeout: 60) { _ in metric("l2met_drains_over_store_limit") == 0 },
                      "the drain stayed over its limit: \(l2met.stdout.suffix(2000))")
        let t = Date().timeIntervalSince1970
        XCTAssertEqual(try Drain.post(port: port, body: Drain.frame("count#after=1", at: t), token: full, query: "resolution=1"), 200)
        let dropped = metric(limitedName)
        XCTAssertTrue(librato.wait(timeout: 30) { _ in
            sum(of: "after", user: "full") == 1 && sum(of: "l2met.dropped", user: "full") == dropped
                && (0..<200).reduce(0.0) { $0 + sum(of: "hits.\($1)", user: "full") } + dropped == posted
        }, "delivered \((0..<200).reduce(0.0) { $0 + sum(of: "hits.\($1)", user: "full") }) + dropped \(dropped) of \(posted); "
           + "reported \(sum(of: "l2met.dropped", user: "full")); after: \(sum(of: "after", user: "full"))")
        let sources = Set(librato.requests.filter { $0.status == 200 && user($0) == "full" }.flatMap(\.gauges)
            .filter { $0["name"] as? String == "l2met.dropped" }.compactMap { $0["source"] as? String })
        XCTAssertEqual(sources, ["store_limit"])
        XCTAssertGreaterThanOrEqual(dropped, limited)
    }
}

/// Whether a test's destination is down, shared with its fake server's threads.
final class Outage: Sendable {
    let down = Atomic<Bool>(true)
}
