import Foundation
import L2metTestSupport
import L2metCrypto
import L2metHTTP
import XCTest

/// Delivery that survives the destination, on the real binary with Redis: nothing answered 200 is
/// dropped for a transient failure, and a dead destination delays no other.
final class DestinationOutageTests: XCTestCase {
    /// Posts bodies of `lines(i)` every `interval` seconds for `duration` seconds on a thread of its own;
    /// counts what was answered 200.
    final class Poster: @unchecked Sendable {
        private let lock = NSLock()
        private var accepted: [Int] = []
        private var failures: [String] = []
        private let done = DispatchSemaphore(value: 0)

        init(port: Int, tokens: [String], duration: Double, interval: Double, body: @escaping @Sendable (Int, Double) -> String) {
            Thread.detachNewThread { [self] in
                let end = Date().addingTimeInterval(duration)
                var i = 0
                while Date() < end {
                    let now = Date().timeIntervalSince1970
                    for token in tokens {
                        let status = (try? Drain.post(port: port, body: body(i, now), token: token, query: "resolution=1")) ?? 0
                        lock.withLock {
                            if status == 200 { accepted.append(i) } else { failures.append("\(i): \(status)") }
                        }
                    }
                    i += 1
                    Thread.sleep(forTimeInterval: interval)
                }
                done.signal()
            }
        }

        func wait() -> (accepted: [Int], failures: [String]) {
            done.wait()
            return lock.withLock { (accepted, failures) }
        }
    }

    /// The destination refuses connections (the outlet is killed and another started meanwhile), then
    /// answers 503, then 200: every line answered 200 arrives, and every bucket once.
    func testEveryLineArrivesOnceThroughAnOutageAndAnOutletRestart() throws {
        let redis = try RedisServer()
        let key = freshFernetKey()
        let env = ["SECRETS": key]
        let libratoPort = freePort()  // nothing listens there yet: connections are refused
        let token = try Keyring(secrets: key).encrypt("outage@example.com:outage-token-41d2", now: Int64(Date().timeIntervalSince1970))
        let receiverPort = freePort()
        let receiver = try ChildProcess(["serve", "--receiver", "--port", "\(receiverPort)", "--redis-url", redis.url,
                                         "--flush-interval", "0.2"], environment: env)
        defer { _ = receiver.stop() }
        XCTAssertTrue(Drain.waitUntilListening(port: receiverPort), receiver.stdout)
        let outletArguments = ["serve", "--outlet", "--redis-url", redis.url,
                               "--librato-url", "http://127.0.0.1:\(libratoPort)/v1/metrics",
                               "--outlet-interval", "0.1", "--outlet-backoff-cap", "3", "--outlet-timeout", "5"]
        var first: ChildProcess? = try ChildProcess(outletArguments + ["--port", "\(freePort())"], environment: env)
        defer { _ = first?.stop(signal: SIGKILL) }

        // 24 s of lines: an order and a latency from one of three sources, four bodies a second.
        let poster = Poster(port: receiverPort, tokens: [token], duration: 24, interval: 0.25) { i, now in
            Drain.frame("source=web.\(i % 3) count#orders=1 measure#db.latency=\(i % 50 + 1)ms", at: now)
        }
        // The first outlet fails for 12 s, then dies; a second one takes over its buckets.
        Thread.sleep(forTimeInterval: 12)
        XCTAssertTrue(first!.stdout.contains("request failed; its buckets wait in the store"), first!.stdout)
        XCTAssertTrue(first!.stdout.contains("connection refused"), first!.stdout)
        _ = first!.stop(signal: SIGKILL)
        let firstOutput = first!.stdout
        first = nil
        let second = try ChildProcess(outletArguments + ["--port", "\(freePort())"], environment: env)
        defer { _ = second.stop() }
        let (accepted, failures) = poster.wait()
        XCTAssertEqual(failures, [], "every body must be answered 200")

        // Back at 30 s: 503 for 8 s, then 200.
        Thread.sleep(forTimeInterval: 6)
        let unavailableUntil = Date().addingTimeInterval(8)
        let librato = try FakeLibrato(port: libratoPort, respond: { _ in
            Date() < unavailableUntil ? HTTPResponse(status: 503, body: Array("{\"errors\":\"maintenance\"}".utf8)) : nil
        })
        defer { librato.stop() }
        func orders() -> [[String: Any]] { librato.gauges.filter { $0["name"] as? String == "orders" } }
        func total(_ gauges: [[String: Any]], _ field: String) -> Double {
            gauges.reduce(0) { $0 + (($1[field] as? NSNumber)?.doubleValue ?? 0) }
        }
        XCTAssertTrue(librato.wait(timeout: 90) { _ in total(orders(), "value") >= Double(accepted.count) },
                      "delivered \(total(orders(), "value")) of \(accepted.count); \(second.stdout)")
        Thread.sleep(forTimeInterval: 2)  // nothing more may come

        XCTAssertEqual(total(orders(), "value"), Double(accepted.count), "every order answered 200, once")
        let latencies = librato.gauges.filter { $0["name"] as? String == "db.latency" }
        XCTAssertEqual(total(latencies, "count"), Double(accepted.count), "every latency answered 200, once")
        // Each bucket once: no (name, source, time) twice among accepted gauges.
        let series = librato.gauges.map { "\($0["name"]!) \($0["source"] ?? "-") \($0["measure_time"]!)" }
        XCTAssertEqual(series.count, Set(series).count, "a bucket was posted twice")
        XCTAssertTrue(librato.requests.contains { $0.status == 503 }, "the 503 phase was not reached")
        // The second outlet continued the first one's schedule: attempt counts went on from the store.
        let attempts = second.stdout.split(separator: "\n").compactMap { line -> Int? in
            guard let r = line.range(of: " attempt=") else { return nil }
            return Int(line[r.upperBound...].prefix { $0.isNumber })
        }
        let firstMax = firstOutput.split(separator: "\n").compactMap { line -> Int? in
            guard let r = line.range(of: " attempt=") else { return nil }
            return Int(line[r.upperBound...].prefix { $0.isNumber })
        }.max() ?? 0
        XCTAssertGreaterThan(firstMax, 1, firstOutput)
        XCTAssertGreaterThan(attempts.max() ?? 0, firstMax, "the second outlet started the schedule over: \(second.stdout)")
        // Nothing left behind.
        XCTAssertTrue(waitUntil(timeout: 10) {
            let keys = (try? TestRedis.cli(redis.url, ["--raw", "KEYS", "*"])) ?? "?"
            return keys.split(separator: "\n").allSatisfy { $0.hasPrefix("l2met:flush:") }
        }, (try? TestRedis.cli(redis.url, ["--raw", "KEYS", "*"])) ?? "")
        for out in [firstOutput, second.stdout, receiver.stdout] {
            XCTAssertFalse(out.contains("outage-token-41d2"), "the Librato token must not be logged")
            XCTAssertFalse(out.contains(token), "the drain token must not be logged")
        }
    }

    /// One destination hangs until the request time-out and another refuses connections, while a
    /// third is healthy: the healthy one's delay from interval end to post stays at its normal value.
    func testAHealthyDestinationIsNotDelayedByDeadOnes() throws {
        let redis = try RedisServer()
        let key = freshFernetKey()
        let keyring = try Keyring(secrets: key)
        let now = Int64(Date().timeIntervalSince1970)
        let healthy = try FakeLibrato()
        defer { healthy.stop() }
        let hanging = try SilentServer()
        defer { hanging.stop() }
        let refusing = freePort()
        let bob = keyring.encrypt("bob@example.com:bob-token", now: now)
        let alice = keyring.encrypt("librato+http://alice%40example.com:alice-token@127.0.0.1:\(hanging.port)/v1/metrics", now: now)
        let carol = keyring.encrypt("otlp+http://127.0.0.1:\(refusing)", now: now)
        let port = freePort()
        let l2met = try ChildProcess(["serve", "--port", "\(port)", "--redis-url", redis.url, "--librato-url", healthy.url,
                                      "--flush-interval", "0.2", "--outlet-interval", "0.1", "--outlet-timeout", "20"],
                                     environment: ["SECRETS": key])
        defer { _ = l2met.stop() }
        XCTAssertTrue(Drain.waitUntilListening(port: port), l2met.stdout)

        /// Seconds from each of bob's intervals' end to the arrival of its gauge, for intervals in [from, to).
        func delays(from: Double, to: Double) -> [Double] {
            var firstArrival: [Int: Date] = [:]
            for r in healthy.requests where r.status == 200 {
                for g in r.gauges {
                    guard let t = g["measure_time"] as? Int, Double(t) >= from, Double(t) < to else { continue }
                    if firstArrival[t] == nil { firstArrival[t] = r.at }
                }
            }
            return firstArrival.map { $0.value.timeIntervalSince1970 - Double($0.key + 1) }.sorted()
        }
        let body: @Sendable (Int, Double) -> String = { i, now in Drain.frame("count#ticks=1 source=web.\(i % 2)", at: now) }

        // 8 s of bob alone: his normal delay.
        let alone = Date().timeIntervalSince1970
        XCTAssertEqual(Poster(port: port, tokens: [bob], duration: 8, interval: 0.5, body: body).wait().failures, [])
        let together = Date().timeIntervalSince1970
        // 16 s of bob with alice (hangs 20 s a request) and carol (connection refused).
        XCTAssertEqual(Poster(port: port, tokens: [bob, alice, carol], duration: 16, interval: 0.5, body: body).wait().failures, [])
        let end = Date().timeIntervalSince1970
        XCTAssertTrue(waitUntil(timeout: 15) { delays(from: together.rounded(.up), to: end.rounded(.down) - 1).count >= 10 })
        let normal = delays(from: alone.rounded(.up), to: together.rounded(.down) - 1)
        let during = delays(from: together.rounded(.up), to: end.rounded(.down) - 1)
        XCTAssertGreaterThanOrEqual(normal.count, 5)
        XCTAssertGreaterThanOrEqual(during.count, 10)
        func median(_ d: [Double]) -> Double { d.isEmpty ? .nan : d[d.count / 2] }
        print(String(format: "healthy destination's delay from interval end to post: alone median %.2f s max %.2f s; "
                     + "with a hanging and a refusing destination median %.2f s max %.2f s",
                     median(normal), normal.last ?? .nan, median(during), during.last ?? .nan))
        // Expected about 1.5 s (deadline 2 × resolution 1, flush 0.2 s, poll 0.1 s); a hang costs 20 s.
        XCTAssertLessThan(during.last ?? 99, 8, "the healthy destination waited behind a dead one: \(during)")
        XCTAssertTrue(hanging.wait(for: "alice", timeout: 1) || hanging.requests.contains { $0.contains("POST") },
                      "the hanging destination was never tried")
        XCTAssertTrue(l2met.stdout.contains("connection refused"), l2met.stdout)
        let metrics = try Drain.get(port: port, path: "/metrics").1
        XCTAssertTrue(metrics.contains("l2met_outlet_open_breakers"), metrics)
        XCTAssertFalse(l2met.stdout.contains("alice-token") || l2met.stdout.contains("bob-token"), l2met.stdout)
    }

    private func waitUntil(timeout: Double, _ predicate: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if predicate() { return true }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return predicate()
    }
}
