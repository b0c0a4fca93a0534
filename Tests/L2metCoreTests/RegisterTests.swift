import XCTest
@testable import L2metCore

final class RegisterTests: XCTestCase {
    /// 2009-02-13T23:31:30Z floored to 60 s: 1234567890 mod 60 = 30, so 1234567860.
    let minute: Int64 = 1_234_567_860
    let options = DrainOptions(token: "tok")

    func ts(_ offsetSeconds: Double) -> String {
        // 2009-02-13T23:31:30 + offset (offset < 29.5 s keeps the same minute).
        let whole = Int(offsetSeconds.rounded(.down))
        let micros = Int(((offsetSeconds - Double(whole)) * 1_000_000).rounded())
        let sec = 30 + whole
        let m = 31 + sec / 60
        return "2009-02-13T23:\(m):\(pad(sec % 60, 2)).\(pad(micros, 6))Z"
    }

    func ingest(_ r: Register, _ body: String, options: DrainOptions? = nil, now: Int64? = nil) -> IngestCounts {
        r.ingest(Array(body.utf8), options: options ?? self.options, nowMicros: now ?? (t0Micros + 5_000_000))
    }

    func sorted(_ r: Register) -> [(key: BucketKey, data: BucketData)] {
        r.takeAll().sorted { $0.key.storeKey < $1.key.storeKey }
    }

    func testEmptyBody() {
        let r = Register(deadline: 2)
        XCTAssertEqual(ingest(r, ""), IngestCounts())
        XCTAssertEqual(r.bucketCount, 0)
    }

    func testManyLinesMergeIntoOneBucket() {
        let r = Register(deadline: 2)
        let body = frame("measure#db.latency=8ms source=web.1", timestamp: ts(0.1))
            + frame("source=web.1 measure#db.latency=42ms measure#db.latency=15ms", timestamp: ts(0.2))
            + "\n" + frame("measure#db.latency=23ms source=web.1 measure#db.latency=16ms", timestamp: ts(0.3))
        let c = ingest(r, body)
        XCTAssertEqual(c.frames, 3)
        XCTAssertEqual(c.lines, 3)
        XCTAssertEqual(c.measurements, 5)
        XCTAssertEqual(c.brokenFrames, 0)
        XCTAssertEqual(r.bucketCount, 1)
        XCTAssertGreaterThan(r.approximateBytes, 5 * 8)
        let all = r.takeAll()
        XCTAssertEqual(all.count, 1)
        XCTAssertEqual(all[0].key, BucketKey(token: "tok", name: "db.latency", source: "web.1", kind: .measurement,
                                             units: "ms", resolution: 60, time: minute))
        XCTAssertEqual(all[0].data.values, [8, 42, 15, 23, 16])
        XCTAssertEqual(all[0].data.count, 5)
        XCTAssertEqual(all[0].data.sum, 104)
        // takeAll empties.
        XCTAssertEqual(r.bucketCount, 0)
        XCTAssertEqual(r.approximateBytes, 0)
        XCTAssertTrue(r.takeAll().isEmpty)
        // And the register works again afterwards.
        _ = ingest(r, frame("count#x=2", timestamp: ts(1)))
        XCTAssertEqual(r.takeAll().map(\.data.sum), [2])
    }

    func testKeyFieldsSeparateBuckets() {
        let r = Register(deadline: 2)
        let body = frame("measure#x=1ms", timestamp: ts(1)) + frame("measure#x=2s", timestamp: ts(1))
            + frame("count#x=3ms", timestamp: ts(1)) + frame("measure#x=4ms source=a", timestamp: ts(1))
            + frame("measure#x=5ms", timestamp: "2009-02-13T23:30:59Z")
        _ = ingest(r, body)
        _ = ingest(r, frame("measure#x=6ms", timestamp: ts(1)), options: DrainOptions(token: "other"))
        _ = ingest(r, frame("measure#x=7ms", timestamp: ts(1)), options: DrainOptions(token: "tok", resolution: 1),
                   now: t0Micros + 1_500_000)  // resolution 1, deadline 2: open until 1234567893
        let all = sorted(r)
        let summary = all.map { "\($0.key.token) \($0.key.resolution) \($0.key.time) \($0.key.kind) \($0.key.name) \($0.key.source) \($0.key.units) \($0.data.sum)" }
        XCTAssertEqual(summary.sorted(), [
            "other 60 1234567860 measurement x  ms 6.0",
            "tok 1 1234567891 measurement x  ms 7.0",
            "tok 60 1234567800 measurement x  ms 5.0",
            "tok 60 1234567860 counter x  ms 3.0",
            "tok 60 1234567860 measurement x  ms 1.0",
            "tok 60 1234567860 measurement x  s 2.0",
            "tok 60 1234567860 measurement x a ms 4.0",
        ])
    }

    func testSampleLastByTimestamp() {
        let r = Register(deadline: 2)
        let body = frame("sample#queue=12 source=worker.2", timestamp: ts(0.1))
            + frame("sample#queue=7 source=worker.2", timestamp: ts(0.5))
            + frame("sample#queue=9 source=worker.2", timestamp: ts(0.3))
            + frame("sample#tie=1 sample#tie=2", timestamp: ts(0.2))
            + frame("sample#tie=3", timestamp: ts(0.2))
        _ = ingest(r, body)
        let all = sorted(r)
        XCTAssertEqual(all.count, 2)
        XCTAssertEqual(all[0].key.name, "queue")
        XCTAssertEqual(all[0].data.lastValue, 7)
        XCTAssertEqual(all[0].data.lastTimestamp, t0Micros + 500_000)
        XCTAssertEqual(all[1].key.name, "tie")
        XCTAssertEqual(all[1].data.lastValue, 3)
        XCTAssertEqual(all[1].data.count, 3)
    }

    func testDeadlineDropsLateLines() {
        // Bucket 1234567860, deadline 2 x 60 s: accepted while now < 1234567980.
        let body = frame("count#a=1 count#b=1", timestamp: ts(0))
        let r = Register(deadline: 2)
        var c = ingest(r, body, now: 1_234_567_979_999_999)
        XCTAssertEqual(c.measurements, 2)
        XCTAssertEqual(c.count(of: .late), 0)
        c = ingest(r, body, now: 1_234_567_980_000_000)
        XCTAssertEqual(c.measurements, 0)
        XCTAssertEqual(c.count(of: .late), 2)
        XCTAssertEqual(r.takeAll().map(\.data.sum), [1, 1])
        // Deadline 0: every timestamped bucket is already closed.
        let strict = Register(deadline: 0)
        XCTAssertEqual(ingest(strict, body).count(of: .late), 2)
    }

    func testFutureAndMissingTimestamps() {
        let r = Register(deadline: 2)
        let now = t0Micros  // 2009-02-13T23:31:30Z
        // 59 s ahead: its own bucket (23:32:29 floors to 1234567920).
        _ = ingest(r, frame("sample#near=1", timestamp: "2009-02-13T23:32:29Z"), now: now)
        // 61 s ahead: bucketed at the receive time.
        _ = ingest(r, frame("sample#far=2", timestamp: "2009-02-13T23:32:31Z"), now: now)
        // No timestamp, or one that does not parse: receive time.
        _ = ingest(r, frame("sample#none=3", timestamp: "-"), now: now)
        _ = ingest(r, frame("sample#junk=4", timestamp: "not-a-time"), now: now)
        let byName = Dictionary(uniqueKeysWithValues: r.takeAll().map { ($0.key.name, $0) })
        XCTAssertEqual(byName["near"]?.key.time, 1_234_567_920)
        XCTAssertEqual(byName["near"]?.data.lastTimestamp, 1_234_567_949_000_000)
        XCTAssertEqual(byName["far"]?.key.time, minute)
        XCTAssertEqual(byName["far"]?.data.lastTimestamp, now)
        XCTAssertEqual(byName["none"]?.key.time, minute)
        XCTAssertEqual(byName["junk"]?.key.time, minute)
    }

    func testPrefixAndSourcePrefix() {
        let r = Register(deadline: 2)
        let opts = DrainOptions(token: "", resolution: 60, prefix: "my app", sourcePrefix: "eu/1")
        _ = ingest(r, frame("count#a=1 source=web.1", timestamp: ts(0)) + frame("count#b=1", timestamp: ts(0)),
                   options: opts)
        let all = sorted(r).map { "\($0.key.name)|\($0.key.source)" }
        XCTAssertEqual(all.sorted(), ["my_app.a|eu_1.web.1", "my_app.b|eu_1"])
    }

    func testSanitisedNamesAndSources() {
        let r = Register(deadline: 2)
        _ = ingest(r, frame("count#café/x=1 source=\"web 1 ü\"", timestamp: ts(0))
                   + frame("count#" + String(repeating: "n", count: 300) + "=1", timestamp: ts(0)),
                   options: DrainOptions(token: "t", prefix: "p"))
        let all = sorted(r)
        XCTAssertEqual(all.count, 1, "the 302-byte name is dropped, not cut")
        XCTAssertEqual(all[0].key.name, "p.caf__x")
        XCTAssertEqual(all[0].key.source, "web_1__")
    }

    /// A name or source past 255 bytes (248 for a measurement name, whose .median … gauges must fit)
    /// is dropped and counted, never cut: two long names cut alike would merge into one series.
    func testTooLongNamesAndSourcesAreDroppedNotCut() {
        let r = Register(deadline: 2)
        let a = String(repeating: "n", count: 260) + "a", b = String(repeating: "n", count: 260) + "b"
        let c = ingest(r, frame("count#\(a)=1 count#\(b)=2 count#ok=3", timestamp: ts(0))
                       + frame("measure#" + String(repeating: "m", count: 248) + "=1 measure#"
                               + String(repeating: "m", count: 249) + "=2", timestamp: ts(0))
                       + frame("count#x=1 source=" + String(repeating: "s", count: 256), timestamp: ts(0))
                       + frame("count#" + String(repeating: "c", count: 255) + "=1 source=" + String(repeating: "s", count: 255),
                               timestamp: ts(0)))
        XCTAssertEqual(c.count(of: .tooLong), 4)
        XCTAssertEqual(c.measurements, 3)
        let names = sorted(r).map(\.key.name.utf8.count).sorted()
        XCTAssertEqual(names, [2, 248, 255], "ok, the 248-byte measurement, the 255-byte counter of a 255-byte source")
        // With prefixes: what counts is the whole name and the whole source.
        let p = Register(deadline: 2)
        let long = String(repeating: "s", count: 300)
        let d = ingest(p, frame("measure#m=1 count#c=1 source=x", timestamp: ts(0)), options: DrainOptions(token: "t", sourcePrefix: long))
        XCTAssertEqual(d.count(of: .tooLong), 2)
        XCTAssertEqual(p.bucketCount, 0)
        let e = ingest(p, frame("count#" + String(repeating: "c", count: 250) + "=1", timestamp: ts(0)),
                       options: DrainOptions(token: "t", prefix: "prefix"))
        XCTAssertEqual(e.count(of: .tooLong), 1, "prefix.NAME is 257 bytes")
    }

    func testValuesBeyondOneE100AreDroppedAsBadValues() {
        let r = Register(deadline: 2)
        let c = ingest(r, frame("count#x=1e308 count#x=1e308 measure#y=1e200 measure#y=-1e101 measure#y=1e100 count#z=1e99", timestamp: ts(0)))
        XCTAssertEqual(c.count(of: .badValue), 4)
        XCTAssertEqual(c.measurements, 2)
        for b in r.takeAll() {
            XCTAssertTrue(b.data.sum.isFinite, "\(b.key.name)")
        }
    }

    func testCountsForBrokenFramesAndBadInput() {
        let r = Register(deadline: 2)
        let body = "junk " + frame("count#a=1 count#b=x measure#=2", timestamp: ts(0))
            + "5 <bad\n" + frame("count#a=2", timestamp: ts(0)) + "40 <190>1 truncated"
        let c = ingest(r, body)
        XCTAssertEqual(c.frames, 3)
        XCTAssertEqual(c.brokenFrames, 2)
        XCTAssertEqual(c.lines, 2)
        XCTAssertEqual(c.count(of: .badHeader), 1)
        XCTAssertEqual(c.count(of: .badValue), 1)
        XCTAssertEqual(c.count(of: .emptyName), 1)
        XCTAssertEqual(c.measurements, 2)
        XCTAssertEqual(r.takeAll().map(\.data.sum), [3])
    }

    func testRouterRuntimeAndL10Lines() {
        let r = Register(deadline: 2)
        let uuid = "d97d0ea7-cf3d-411b-b453-d2943a50b456"
        let body = frame("at=info method=GET path=\"/\" connect=1ms service=4ms status=200 bytes=10", timestamp: ts(0),
                         procid: "router", app: "heroku")
            + frame("source=heroku.2808254.web.1.\(uuid) measure=memory_rss val=21.22 units=MB", timestamp: ts(0),
                    procid: "web.1", app: "heroku")
            + frame("- Error L10 (output buffer overflow): 500 messages dropped since 2009-02-13T23:31:00+00:00.",
                    timestamp: ts(0), procid: "logplex", app: "heroku")
            + frame("Error L10 (output buffer overflow): 20 messages dropped since 2009-02-13T23:31:00+00:00.",
                    timestamp: ts(1), procid: "logplex", app: "heroku")
        XCTAssertEqual(ingest(r, body).measurements, 6)
        let all = sorted(r).map { "\($0.key.kind) \($0.key.name) \($0.key.source) \($0.key.units) \($0.data.sum)" }
        XCTAssertEqual(all.sorted(), [
            "counter logplex.l10   520.0",
            "measurement router.bytes   10.0",
            "measurement router.connect  ms 1.0",
            "measurement router.service  ms 4.0",
            "sample memory_rss web.1 MB 21.22",
        ])
    }

    /// A body in the shape ../shared/tools/gen_body.py writes, with values worked out by hand.
    func testGenBodyShapedBody() {
        let ts = "2009-02-13T23:31:30+00:00"
        let lines = [
            ("heroku", "router", "at=info method=GET path=\"/api/items/42\" host=shop.example.com request_id=00ff00ff00ff00ff fwd=\"10.1.2.3\" dyno=web.1 connect=1ms service=20ms status=200 bytes=5000 protocol=https"),
            ("heroku", "router", "at=info method=GET path=\"/api/items/7\" host=shop.example.com request_id=0a0a0a0a0a0a0a0a fwd=\"10.1.9.9\" dyno=web.2 connect=3ms service=7ms status=404 bytes=100 protocol=https"),
            ("heroku", "web.1", "source=web.1 dyno=heroku.2808254.d97d0ea7-cf3d-411b-b453-d2943a50b456 sample#memory_total=120.50MB sample#memory_rss=100.25MB sample#memory_cache=1.00MB sample#memory_swap=0.00MB sample#memory_pgpgin=5000pages sample#memory_pgpgout=4000pages sample#memory_quota=512.00MB"),
            ("heroku", "web.2", "source=web.2 dyno=heroku.2808254.d97d0ea7-cf3d-411b-b453-d2943a50b456 sample#load_avg_1m=0.50 sample#load_avg_5m=0.25 sample#load_avg_15m=0.125"),
            ("app", "web.1", "source=web.1 measure#db.latency=12.500ms count#orders.created=2 sample#queue.depth=10"),
            ("app", "web.1", "source=web.1 measure#db.latency=2.500ms count#orders.created=1 sample#queue.depth=4"),
            ("app", "web.3", "Completed 200 OK in 311ms (Views: 10.2ms | ActiveRecord: 3.1ms)"),
            ("heroku", "logplex", "- Error L10 (output buffer overflow): 123 messages dropped since \(ts)."),
        ]
        var body = ""
        for (app, proc, msg) in lines {
            let line = "<158>1 \(ts) host \(app) \(proc) - \(msg)\n"
            body += "\(line.utf8.count) \(line)"
        }
        let r = Register(deadline: 2)
        let c = ingest(r, body)
        XCTAssertEqual(c.frames, 8)
        XCTAssertEqual(c.lines, 8)
        XCTAssertEqual(c.brokenFrames, 0)
        XCTAssertEqual(c.measurements, 6 + 7 + 3 + 3 + 3 + 1)
        let all = sorted(r).map { b -> String in
            let v = b.key.kind == .measurement ? "\(b.data.values)" : b.key.kind == .counter ? "\(b.data.sum)" : "\(b.data.lastValue)"
            return "\(b.key.kind) \(b.key.name) \(b.key.source) \(b.key.units) \(v) \(b.key.time)"
        }
        XCTAssertEqual(all.sorted(), [
            "counter logplex.l10   123.0 1234567860",
            "counter orders.created web.1  3.0 1234567860",
            "measurement db.latency web.1 ms [12.5, 2.5] 1234567860",
            "measurement router.bytes   [5000.0, 100.0] 1234567860",
            "measurement router.connect  ms [1.0, 3.0] 1234567860",
            "measurement router.service  ms [20.0, 7.0] 1234567860",
            "sample load_avg_15m web.2  0.125 1234567860",
            "sample load_avg_1m web.2  0.5 1234567860",
            "sample load_avg_5m web.2  0.25 1234567860",
            "sample memory_cache web.1 MB 1.0 1234567860",
            "sample memory_pgpgin web.1 pages 5000.0 1234567860",
            "sample memory_pgpgout web.1 pages 4000.0 1234567860",
            "sample memory_quota web.1 MB 512.0 1234567860",
            "sample memory_rss web.1 MB 100.25 1234567860",
            "sample memory_swap web.1 MB 0.0 1234567860",
            "sample memory_total web.1 MB 120.5 1234567860",
            "sample queue.depth web.1  4.0 1234567860",
        ])
    }

    func testLongLineWithEscapedValues() {
        // Longer than the register's initial scratch buffer, quoted values with escapes throughout.
        let filler = String(repeating: "x=\"a \\\" b\" ", count: 3000)
        let r = Register(deadline: 2)
        let c = ingest(r, frame(filler + "count#long=\"2\" source=\"w \\\"1\\\"\" " + filler, timestamp: ts(0)))
        XCTAssertEqual(c.measurements, 1)
        let all = r.takeAll()
        XCTAssertEqual(all.map(\.key.source), ["w__1_"])
        XCTAssertEqual(all.map(\.data.sum), [2])
    }

    func testManyBucketsGrowTheTable() {
        let r = Register(deadline: 2)
        var body = ""
        for i in 0..<3000 { body += frame("count#m\(i)=\(i) count#m\(i)=1", timestamp: ts(0)) }
        let c = ingest(r, body)
        XCTAssertEqual(c.measurements, 6000)
        XCTAssertEqual(r.bucketCount, 3000)
        let all = r.takeAll()
        XCTAssertEqual(all.count, 3000)
        for b in all {
            XCTAssertEqual(b.data.sum, Double(Int(b.key.name.dropFirst())!) + 1, b.key.name)
        }
    }

    /// A body of one huge line used to leave its per-line buffers at that size in the register for
    /// good (4 such 10 MB bodies: resident memory 32 MB -> 259 MB, never given back).
    func testAHugeLineDoesNotLeaveHugeBuffersBehind() {
        let r = Register(deadline: 2)
        let pairs = String(repeating: "count#a ", count: 200_000) + "measure#q=\"" + String(repeating: "\\\"", count: 600_000) + "\""
        let c = ingest(r, frame(pairs))
        XCTAssertEqual(c.measurements, 200_000)
        XCTAssertEqual(c.count(of: .badValue), 1)
        XCTAssertLessThanOrEqual(r.scratchCapacities.lineMetrics, Register.maxKeptLineMetrics)
        XCTAssertLessThanOrEqual(r.scratchCapacities.scratchBytes, Register.maxKeptScratchBytes)
        XCTAssertEqual(r.takeAll().first?.data.sum, 200_000)
        // Ordinary bodies keep reusing their buffers.
        XCTAssertEqual(ingest(r, frame("count#b=2 measure#c=1ms")).measurements, 2)
        XCTAssertGreaterThanOrEqual(r.scratchCapacities.lineMetrics, 2)
    }

    /// Hash flooding: with the bucket hash seeded by a constant, anyone could work out offline names
    /// whose buckets share one home slot, and every insert and lookup in that register then walked
    /// the whole pile (a 10 MB body of such names kept a register busy for seconds, and every other
    /// drain's lookups landing in the pile with it). The seed is now random per process.
    func testChosenNamesDoNotPileUpInOneRunOfSlots() {
        let oldSeed: UInt64 = 0x243F_6A88_85A3_08D3
        let now = t0Micros
        let time = UInt64(bitPattern: (t0 / 60) * 60)
        // The table has 2048 slots for 800 buckets: names whose hash under the old seed ends in the
        // same 11 bits all have home slot 0 (the Register's pipeline: no source, context 0, counter).
        let lineSeed = ByteHash.mix(ByteHash.mix(oldSeed, 0), time)
        var names: [String] = []
        var n = 0
        while names.count < 800 {
            let name = "n\(n)"
            n += 1
            var bytes = Array(name.utf8)
            let h = ByteHash.finish(ByteHash.mix(ByteHash.hash(&bytes, bytes.count, seed: lineSeed), 1))
            if h & 2047 == 0 { names.append(name) }
        }
        let body = names.map { frame("count#\($0)", timestamp: "-") }.joined()

        let fixed = Register(deadline: 2, hashSeed: oldSeed)
        XCTAssertEqual(fixed.ingest(Array(body.utf8), options: DrainOptions(token: "t"), nowMicros: now).measurements, 800)
        XCTAssertEqual(fixed.bucketCount, 800)
        XCTAssertGreaterThanOrEqual(fixed.longestProbe, 799, "the attack works against the old fixed seed")

        let seeded = Register(deadline: 2)
        XCTAssertEqual(seeded.ingest(Array(body.utf8), options: DrainOptions(token: "t"), nowMicros: now).measurements, 800)
        XCTAssertEqual(seeded.bucketCount, 800)
        XCTAssertLessThan(seeded.longestProbe, 100, "the same names spread out under the process's random seed")
        XCTAssertNotEqual(ByteHash.processSeed, oldSeed)
        XCTAssertEqual(Set(seeded.takeAll().map(\.key.name)), Set(names))
    }
}

func pad(_ v: Int, _ width: Int) -> String {
    let s = String(v)
    return String(repeating: "0", count: max(0, width - s.count)) + s
}

/// Series limits per drain, shared by the registers of a process.
final class SeriesLimitTests: XCTestCase {
    let minute: Int64 = 1_234_567_860

    func body(_ names: Range<Int>, source: String = "web.1") -> String {
        names.map { frame("count#m\($0)=1 source=\(source)", timestamp: "2009-02-13T23:31:30.000000Z") }.joined()
    }

    func testAFloodingDrainKeepsItsFirstSeriesAndIsToldInItsOwnMetrics() {
        let limiter = SeriesLimiter(maxSeriesPerInterval: 10)
        let r1 = Register(deadline: 2, limiter: limiter), r2 = Register(deadline: 2, limiter: limiter)
        let now = (minute + 5) * 1_000_000
        let flood = DrainOptions(token: "flood"), quiet = DrainOptions(token: "quiet")
        let c1 = r1.ingest(Array(body(0..<8).utf8), options: flood, nowMicros: now)
        XCTAssertEqual(c1.count(of: .seriesLimit), 0)
        // The second register shares the limit: 2 more new series fit, and the first 8 again.
        let c2 = r2.ingest(Array(body(0..<30).utf8), options: flood, nowMicros: now)
        XCTAssertEqual(c2.count(of: .seriesLimit), 20)
        XCTAssertEqual(c2.measurements, 10)
        // Another drain is not touched.
        let c3 = r2.ingest(Array(body(0..<10).utf8), options: quiet, nowMicros: now)
        XCTAssertEqual(c3.count(of: .seriesLimit), 0)
        let flooded = (r1.takeAll() + r2.takeAll()).filter { $0.key.token == "flood" }
        let report = flooded.filter { $0.key.name == "l2met.dropped" }
        XCTAssertEqual(report.map(\.key.source), ["series_limit"])
        XCTAssertEqual(report.first?.data.sum, 20, "the drain's own metrics say how many it lost")
        XCTAssertEqual(Set(flooded.map(\.key.name)).subtracting(["l2met.dropped"]).count, 10)
        // A later interval starts afresh, and what is older than the oldest open interval is forgotten.
        let later = r1.ingest(Array(body(100..<105).utf8).map { $0 }, options: flood, nowMicros: now)
        XCTAssertEqual(later.count(of: .seriesLimit), 5, "same interval: still full")
        limiter.forget(before: minute + 60)
        XCTAssertEqual(limiter.trackedDrains, 0)
    }

    func testNoLimitTakesEverything() {
        let r = Register(deadline: 2, limiter: SeriesLimiter(maxSeriesPerInterval: 0))
        let c = r.ingest(Array(body(0..<50).utf8), options: DrainOptions(token: "t"), nowMicros: (minute + 5) * 1_000_000)
        XCTAssertEqual(c.measurements, 50)
        XCTAssertEqual(r.bucketCount, 50)
    }
}

/// Memory after a flood.
final class RegisterMemoryTests: XCTestCase {
    func testTablesShrinkOnceAFloodIsOver() {
        let r = Register(deadline: 2)
        let ts = "2009-02-13T23:31:30.000000Z"
        let now: Int64 = (1_234_567_860 + 5) * 1_000_000
        let flood = (0..<50_000).map { frame("count#user.\($0)=1", timestamp: ts) }.joined()
        _ = r.ingest(Array(flood.utf8), options: DrainOptions(token: "t"), nowMicros: now)
        XCTAssertEqual(r.bucketCount, 50_000)
        let grown = r.tableCapacity
        XCTAssertGreaterThanOrEqual(grown.slots, 100_000)
        _ = r.takeAll()
        XCTAssertEqual(r.tableCapacity.slots, grown.slots, "a flush right after the flood keeps the room (the flood may go on)")
        // The next interval is quiet: its flush gives the flood's memory back.
        _ = r.ingest(Array(frame("count#a=1", timestamp: ts).utf8), options: DrainOptions(token: "t"), nowMicros: now)
        _ = r.takeAll()
        XCTAssertEqual(r.tableCapacity.slots, 1024)
        XCTAssertEqual(r.tableCapacity.arenaBytes, 1 << 16)
        // And it still works.
        _ = r.ingest(Array((frame("count#a=1", timestamp: ts) + frame("count#a=2", timestamp: ts)).utf8),
                     options: DrainOptions(token: "t"), nowMicros: now)
        XCTAssertEqual(r.takeAll().first?.data.sum, 3)
    }
}

/// Values per second per drain, shared by the registers of a process.
final class RateLimitTests: XCTestCase {
    let minute: Int64 = 1_234_567_860

    func body(_ count: Int, source: String = "web.1") -> [UInt8] {
        Array((0..<count).map { frame("count#m\($0 % 5)=1 source=\(source)", timestamp: "2009-02-13T23:31:30.000000Z") }
            .joined().utf8)
    }

    func testABodyTakesItsAllowanceAndTheRestIsDroppedAndReportedInTheDrainsOwnMetrics() {
        let r = Register(deadline: 2)
        let now = (minute + 5) * 1_000_000
        let c = r.ingest(body(30), options: DrainOptions(token: "t"), nowMicros: now,
                         allowance: ValueAllowance(values: 12, refusal: .rateLimit))
        XCTAssertEqual(c.measurements, 12)
        XCTAssertEqual(c.count(of: .rateLimit), 18)
        XCTAssertEqual(c.dropped, 18)
        let buckets = r.takeAll()
        XCTAssertEqual(buckets.filter { $0.key.name != "l2met.dropped" }.reduce(0) { $0 + $1.data.count }, 12)
        let report = buckets.filter { $0.key.name == "l2met.dropped" }
        XCTAssertEqual(report.map(\.key.source), ["rate_limit"])
        XCTAssertEqual(report.first?.data.sum, 18)
    }

    func testAStoreRefusalIsReportedUnderItsOwnSource() {
        let r = Register(deadline: 2)
        let c = r.ingest(body(4), options: DrainOptions(token: "t"), nowMicros: (minute + 5) * 1_000_000,
                         allowance: ValueAllowance(values: 0, refusal: .storeLimit))
        XCTAssertEqual(c.count(of: .storeLimit), 4)
        XCTAssertEqual(c.measurements, 0)
        let report = r.takeAll()
        XCTAssertEqual(report.map(\.key.name), ["l2met.dropped"])
        XCTAssertEqual(report.map(\.key.source), ["store_limit"])
    }

    func testTheLimiterRefillsAtItsRateUpToItsBurstAndForgetsFullDrains() {
        let limiter = DrainRateLimiter(valuesPerSecond: 100, burstSeconds: 10)
        let t0: Int64 = 1_000_000_000_000
        XCTAssertEqual(limiter.allowance(token: "a", nowMicros: t0), 1_000)
        limiter.spend(token: "a", count: 1_300, nowMicros: t0)  // two bodies at once overdraw it
        XCTAssertEqual(limiter.allowance(token: "a", nowMicros: t0), 0)
        XCTAssertEqual(limiter.allowance(token: "a", nowMicros: t0 + 2_000_000), 0, "the overdraft is paid back first")
        XCTAssertEqual(limiter.allowance(token: "a", nowMicros: t0 + 4_000_000), 100)
        XCTAssertEqual(limiter.allowance(token: "b", nowMicros: t0), 1_000, "another drain is not touched")
        XCTAssertEqual(limiter.allowance(token: "a", nowMicros: t0 + 60_000_000), 1_000, "never past the burst")
        limiter.spend(token: "b", count: 1, nowMicros: t0 + 60_000_000)
        XCTAssertEqual(limiter.trackedDrains, 1, "a drain whose bucket filled again is forgotten")
        XCTAssertEqual(DrainRateLimiter(valuesPerSecond: 0).allowance(token: "a", nowMicros: t0), Int.max)
    }
}
