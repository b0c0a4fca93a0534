import Foundation
import L2metCrypto
import L2metHTTP
import L2metTestSupport
import XCTest

/// What Redis refuses to store: a bucket past its string limit is dropped and counted (never
/// silently, never taking other buckets with it), and a Redis out of memory holds the flusher
/// back without losing anything, while /health and the drains say so.
final class StoreRefusalTests: XCTestCase {
    /// `/metrics` value of one series (its full name with labels), 0 when absent.
    private func metric(_ port: Int, _ series: String) -> Double {
        let page = (try? Drain.get(port: port, path: "/metrics").1) ?? ""
        let line = page.split(separator: "\n").first { $0.hasPrefix(series + " ") }
        return line.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
    }

    /// POSTs a drain body; the status and `Retry-After`.
    private func post(_ port: Int, _ body: String, token: String, query: String) throws -> (Int, String?) {
        let client = try HTTPClientConnection(host: "127.0.0.1", port: port, timeout: 10)
        defer { client.close() }
        let r = try client.request(method: "POST", path: "/logs?\(query)",
                                   headers: [("Content-Type", "application/logplex-1"),
                                             ("Authorization", Drain.authorization(token: token))],
                                   body: Array(body.utf8))
        return (r.status, r.header("Retry-After"))
    }

    /// Starts `l2met serve` on a free port; another port when that one was taken meanwhile (other
    /// processes on the machine take ports too).
    private func start(_ arguments: [String], key: String) throws -> (ChildProcess, Int) {
        for attempt in 1...5 {
            let port = freePort()
            let l2met = try ChildProcess(["serve", "--port", "\(port)"] + arguments, environment: ["SECRETS": key])
            if Drain.waitUntilListening(port: port) && !l2met.stdout.contains("Address already in use") { return (l2met, port) }
            _ = l2met.stop(signal: SIGKILL)
            if attempt == 5 { XCTFail("l2met did not start: \(l2met.stdout)") }
        }
        throw TestSetupError("l2met did not start")
    }

    private func waitFor(_ what: String, timeout: Double = 20, _ l2met: ChildProcess, _ predicate: () -> Bool) {
        let end = Date().addingTimeInterval(timeout)
        while !predicate() && Date() < end { Thread.sleep(forTimeInterval: 0.05) }
        XCTAssertTrue(predicate(), "\(what): \(l2met.stdout.suffix(3000))")
    }

    /// (a) A Redis with `proto-max-bulk-len 1mb` and one measurement bucket of 10,000,000 values (80 MB
    /// as exact values, past the limit as it used to be kept): bounded records fit, so every value is
    /// delivered, count, sum, min and max exact and percentiles within 1 %; a quiet tenant's counters
    /// all arrive; l2met's memory stays bounded. (A bucket the store refuses for good is counted, value
    /// for value: RedisAppendRefusalTests and FlusherChunkTests.)
    func testAHotBucketPastRedisStringLimitAsValuesIsDeliveredBoundedAndOthersArrive() throws {
        let redis = try RedisServer(arguments: ["--proto-max-bulk-len", "1mb"])
        let librato = try FakeLibrato()
        defer { librato.stop() }
        let key = freshFernetKey()
        // One drain's 10 M values in a few seconds is past its values per second: no rate limit here.
        let (l2met, port) = try start(["--redis-url", redis.url, "--librato-url", librato.url, "--max-values-per-second-per-drain", "0",
                                       "--flush-interval", "0.2", "--outlet-interval", "0.1", "--deadline", "6"], key: key)
        defer { _ = l2met.stop(signal: SIGKILL) }
        let keyring = try Keyring(secrets: key)
        let now = Int64(Date().timeIntervalSince1970)
        let hotToken = keyring.encrypt("hot@example.com:hot-token-secret-a1", now: now)
        let quietToken = keyring.encrypt("quiet@example.com:quiet-token-secret-b2", now: now)

        // Start near the beginning of a 10-second interval; every line is stamped with that time.
        while Date().timeIntervalSince1970.truncatingRemainder(dividingBy: 10) > 0.5 { Thread.sleep(forTimeInterval: 0.05) }
        let t = Date().timeIntervalSince1970
        let line = (0..<100).map { "measure#hot=\($0 + 1)ms" }.joined(separator: " ")
        var hotBody = ""
        for _ in 0..<4_000 { hotBody += Drain.frame(line, at: t) }  // 400,000 values, about 7 MB
        var posted = 0
        var quiet = 0
        for round in 0..<25 {
            XCTAssertEqual(try post(port, hotBody, token: hotToken, query: "resolution=10").0, 200)
            posted += 400_000
            if round % 5 == 0 {
                var quietBody = ""
                for i in 0..<50 { quietBody += Drain.frame("count#quiet=1 source=web.\(i % 5)", at: t) }
                XCTAssertEqual(try post(port, quietBody, token: quietToken, query: "resolution=10").0, 200, "round \(round)")
                quiet += 50
            }
        }
        // Every line is stamped t; --deadline 6 keeps its bucket open 60 s, long enough for a slow machine.
        XCTAssertLessThan(Date().timeIntervalSince1970 - t, 55, "the posts must come before the bucket closes")

        func gauge(_ name: String) -> [String: Any]? { librato.gauges.first { ($0["name"] as? String) == name } }
        func number(_ g: [String: Any]?, _ field: String) -> Double { (g?[field] as? NSNumber)?.doubleValue ?? -1 }
        func delivered(_ name: String, _ field: String) -> Double {
            librato.gauges.filter { ($0["name"] as? String) == name }.reduce(0) { $0 + (($1[field] as? NSNumber)?.doubleValue ?? 0) }
        }
        XCTAssertTrue(librato.wait(timeout: 90) { _ in
            delivered("quiet", "value") >= Double(quiet) && gauge("hot.perc99") != nil
        }, "not delivered: \(librato.gauges.count) gauges; \(l2met.stdout.suffix(3000))")
        Thread.sleep(forTimeInterval: 0.5)
        let hot = gauge("hot")
        XCTAssertEqual(number(hot, "count"), Double(posted), "every value, once")
        XCTAssertEqual(number(hot, "sum"), Double(posted / 100) * 5050)
        XCTAssertEqual(number(hot, "min"), 1)
        XCTAssertEqual(number(hot, "max"), 100)
        // Values 1…100 equally often: nearest rank gives 50, 95 and 99 exactly; the sketch within 1 %.
        for (name, exact) in [("hot.median", 50.0), ("hot.perc95", 95.0), ("hot.perc99", 99.0)] {
            XCTAssertEqual(number(gauge(name), "value"), exact, accuracy: exact * 0.01, name)
        }
        XCTAssertEqual(metric(port, "l2met_store_refused_values_total{reason=\"too_large\"}"), 0)
        XCTAssertEqual(delivered("quiet", "value"), Double(quiet), "the quiet tenant's counters all arrive")
        let rss = l2met.residentBytes()
        print("10,000,000 values of one bucket through Redis: l2met (receiver and outlet) RSS \(rss / 1_000_000) MB")
        XCTAssertLessThan(rss, 200_000_000, "memory must not grow with the values of one bucket")
        let out = l2met.stdout
        XCTAssertFalse(out.contains("hot-token-secret-a1") || out.contains(hotToken), "no token in the logs")
        XCTAssertEqual(try Drain.get(port: port, path: "/health").0, 200)
    }

    /// (b) A Redis at `maxmemory` (noeviction): the flusher holds the burst, /health and the drains
    /// turn to 503 (with Retry-After) past --flush-failure-limit, and once Redis has room everything
    /// answered 200 is written, in chunks, and drains get 200 again.
    func testARedisOutOfMemoryHoldsTheFlushThenTakesItAllWhenItHasRoom() throws {
        let redis = try RedisServer(arguments: ["--maxmemory", "20mb", "--maxmemory-policy", "noeviction"])
        let key = freshFernetKey()
        let (l2met, port) = try start(["--receiver", "--redis-url", redis.url, "--flush-interval", "0.2",
                                       "--flush-failure-limit", "2"], key: key)
        defer { _ = l2met.stop(signal: SIGKILL) }
        let token = try Keyring(secrets: key).encrypt("full@example.com:full-token-c3", now: Int64(Date().timeIntervalSince1970))

        // Unrelated data in database 1 takes Redis past maxmemory (a script is checked before its first write only).
        try TestRedis.cli(redis.url + "/1", ["EVAL", "for i = 1, 1400 do redis.call('SET', 'filler:' .. i, string.rep('x', 16384)) end", "0"])
        XCTAssertTrue(try TestRedis.cli(redis.url, ["SET", "probe", "1"]).contains("OOM"), "Redis is not out of memory")

        var accepted = 0
        let now = Date().timeIntervalSince1970
        var burst = ""
        for i in 0..<5000 { burst += Drain.frame("count#burst.\(i)=1", at: now) }  // 5000 buckets: five chunks
        XCTAssertEqual(try post(port, burst, token: token, query: "resolution=60").0, 200)
        accepted += 5000
        waitFor("the flush was not refused", l2met) { metric(port, "l2met_store_errors_total{op=\"append\"}") > 0 }
        waitFor("the refusal was not logged", l2met) { l2met.stdout.contains("OOM") }
        XCTAssertEqual(metric(port, "l2met_buckets"), 5000, "the burst is held")
        XCTAssertGreaterThan(metric(port, "l2met_held_bytes"), 0)

        // Drains are taken until the flusher has failed for 2 s, then refused with Retry-After.
        var refusedWith: String?
        let until = Date().addingTimeInterval(10)
        while refusedWith == nil && Date() < until {
            let (status, retryAfter) = try post(port, Drain.frame("count#later=1", at: Date().timeIntervalSince1970),
                                                token: token, query: "resolution=60")
            if status == 200 { accepted += 1 } else {
                XCTAssertEqual(status, 503)
                refusedWith = retryAfter
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        XCTAssertNotNil(refusedWith, "drains must get 503 once the flusher has failed past the limit")
        XCTAssertNotNil(Int(refusedWith ?? ""), "Retry-After in seconds")
        let health = try Drain.get(port: port, path: "/health")
        XCTAssertEqual(health.0, 503, health.1)
        XCTAssertTrue(health.1.contains("refused"), health.1)
        XCTAssertGreaterThan(metric(port, "l2met_flush_failing_seconds"), 2)
        XCTAssertGreaterThan(metric(port, "l2met_flush_failure_refusals_total"), 0)

        // A little room (about 256 KB): some chunks pass, the rest stay held, in order.
        func usedMemory() -> Int {
            let info = (try? TestRedis.cli(redis.url, ["INFO", "memory"])) ?? ""
            let line = info.split(whereSeparator: \.isNewline).first { $0.hasPrefix("used_memory:") }
            return line.flatMap { Int($0.dropFirst("used_memory:".count)) } ?? Int.max
        }
        let heldBefore = metric(port, "l2met_buckets")
        var filler = 1400
        while usedMemory() > 20 * 1024 * 1024 - 256 * 1024 && filler > 0 {
            try TestRedis.cli(redis.url + "/1", ["DEL"] + (0..<16).map { "filler:\(filler - $0)" })
            filler -= 16
        }
        waitFor("no chunk passed once Redis had a little room", l2met) { metric(port, "l2met_buckets") < heldBefore }
        XCTAssertGreaterThan(metric(port, "l2met_buckets"), 0, "a little room takes a few chunks, not everything")
        XCTAssertGreaterThan(metric(port, "l2met_flushed_buckets_total"), 0)
        XCTAssertEqual(try Drain.get(port: port, path: "/health").0, 503, "still failing to write what it holds")

        // Room again: the unrelated data goes.
        try TestRedis.cli(redis.url + "/1", ["FLUSHDB"])
        waitFor("health did not recover", l2met) { (try? Drain.get(port: port, path: "/health").0) == 200 }
        waitFor("drains were not taken again", l2met) {
            let ok = (try? post(port, Drain.frame("count#later=1", at: Date().timeIntervalSince1970),
                                token: token, query: "resolution=60").0) == 200
            if ok { accepted += 1 }
            return ok
        }
        XCTAssertEqual(metric(port, "l2met_flush_failing_seconds"), 0)
        XCTAssertGreaterThanOrEqual(metric(port, "l2met_flushed_buckets_total"), 5000)
        XCTAssertTrue(l2met.stdout.contains("store is back"), l2met.stdout.suffix(2000).description)

        XCTAssertEqual(l2met.stop(), 0, l2met.stdout.suffix(2000).description)
        let stored = try L2metStoreAccess.claimAll(redis.url).filter { $0.key.name.hasPrefix("burst.") || $0.key.name == "later" }
        XCTAssertEqual(stored.reduce(0) { $0 + $1.data.sum }, Double(accepted), "every count answered 200 is in Redis once")
    }
}
