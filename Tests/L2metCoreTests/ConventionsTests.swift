import XCTest
@testable import L2metCore

final class ConventionsTests: XCTestCase {
    struct M: Equatable, CustomStringConvertible {
        var kind: MetricKind
        var name: String
        var value: Double
        var units: String
        var description: String { "\(kind) \(name)=\(value)\(units)" }
    }

    func read(_ line: String, router: Bool = false) -> (metrics: [M], source: String?, bad: Int, empty: Int) {
        withBytes(line) { buf in
            let scratch = UnsafeMutableRawPointer.allocate(byteCount: max(1, buf.count), alignment: 1)
            defer { scratch.deallocate() }
            var out = LineMetrics()
            Conventions.read(text: buf, isRouter: router, scratch: scratch, into: &out)
            let ms = out.metrics.map {
                M(kind: $0.kind, name: text($0.namePrefix)! + text($0.name)!, value: $0.value, units: text($0.units)!)
            }
            return (ms, text(out.source), out.badValues, out.emptyNames)
        }
    }

    func testTable() {
        typealias Case = (name: String, line: String, router: Bool, metrics: [M], source: String?, bad: Int, empty: Int)
        let cases: [Case] = [
            ("measure with units", "measure#db.latency=4ms", false,
             [M(kind: .measurement, name: "db.latency", value: 4, units: "ms")], nil, 0, 0),
            ("legacy measure.", "measure.db.latency=4ms", false,
             [M(kind: .measurement, name: "db.latency", value: 4, units: "ms")], nil, 0, 0),
            ("count", "count#orders=3", false, [M(kind: .counter, name: "orders", value: 3, units: "")], nil, 0, 0),
            ("sample", "sample#queue=12", false, [M(kind: .sample, name: "queue", value: 12, units: "")], nil, 0, 0),
            ("bare count is 1", "count#hits", false, [M(kind: .counter, name: "hits", value: 1, units: "")], nil, 0, 0),
            ("bare measure is 1", "measure#hits", false, [M(kind: .measurement, name: "hits", value: 1, units: "")], nil, 0, 0),
            ("source after the metric", "measure#a=1 source=web.1", false,
             [M(kind: .measurement, name: "a", value: 1, units: "")], "web.1", 0, 0),
            ("source before the metric", "source=web.2 count#b=2", false,
             [M(kind: .counter, name: "b", value: 2, units: "")], "web.2", 0, 0),
            ("last source wins", "source=a count#b=2 source=c", false,
             [M(kind: .counter, name: "b", value: 2, units: "")], "c", 0, 0),
            ("quoted value with escapes", "measure#q=\"5ms\" source=\"we \\\"b\\\"\"", false,
             [M(kind: .measurement, name: "q", value: 5, units: "ms")], "we \"b\"", 0, 0),
            ("negative and exponent", "sample#t=-1.5e2C count#z=2E-1", false,
             [M(kind: .sample, name: "t", value: -150, units: "C"), M(kind: .counter, name: "z", value: 0.2, units: "")], nil, 0, 0),
            ("unparsable value drops only its pair", "count#a=1 count#b=12ms3 count#c=x count#d= count#e=5", false,
             [M(kind: .counter, name: "a", value: 1, units: ""), M(kind: .counter, name: "e", value: 5, units: "")], nil, 3, 0),
            ("empty names", "measure#=1 count# sample#=2 count#ok=1", false,
             [M(kind: .counter, name: "ok", value: 1, units: "")], nil, 0, 3),
            ("plain log line", "Completed 200 OK in 12ms (Views: 10.2ms | ActiveRecord: 3.1ms)", false, [], nil, 0, 0),
            ("not a marker", "measure=foo count=3 sample=4 measures#x=1", false, [], nil, 0, 0),
            ("router line", "at=info method=GET path=\"/a b\" connect=1ms service=4ms status=200 bytes=10 protocol=https", true,
             [M(kind: .measurement, name: "router.connect", value: 1, units: "ms"),
              M(kind: .measurement, name: "router.service", value: 4, units: "ms"),
              M(kind: .measurement, name: "router.bytes", value: 10, units: "")], nil, 0, 0),
            ("router keys on a non-router line are ignored", "connect=1ms service=4ms bytes=10", false, [], nil, 0, 0),
            ("router line with a bad value", "connect=fast service=4ms", true,
             [M(kind: .measurement, name: "router.service", value: 4, units: "ms")], nil, 1, 0),
            ("runtime metrics, current form",
             "source=web.1 dyno=heroku.2808254.d97d0ea7-cf3d-411b-b453-d2943a50b456 sample#memory_total=21.22MB sample#load_avg_1m=0.5", false,
             [M(kind: .sample, name: "memory_total", value: 21.22, units: "MB"),
              M(kind: .sample, name: "load_avg_1m", value: 0.5, units: "")], "web.1", 0, 0),
            ("runtime metrics, legacy form",
             "source=heroku.2808254.web.1.d97d0ea7-cf3d-411b-b453-d2943a50b456 measure=memory_rss val=21.22 units=MB", false,
             [M(kind: .sample, name: "memory_rss", value: 21.22, units: "MB")], "web.1", 0, 0),
            ("legacy form, units in the value", "source=worker.3 measure=load val=0.75x", false,
             [M(kind: .sample, name: "load", value: 0.75, units: "x")], "worker.3", 0, 0),
            ("legacy form, bad value", "measure=load val=abc", false, [], nil, 1, 0),
            ("L10 after '- '",
             "- Error L10 (output buffer overflow): 500 messages dropped since 2009-02-13T23:31:30+00:00.", false,
             [M(kind: .counter, name: "logplex.l10", value: 500, units: "")], nil, 0, 0),
            ("L10 at the start", "Error L10 (output buffer overflow): 7 messages dropped since x", false,
             [M(kind: .counter, name: "logplex.l10", value: 7, units: "")], nil, 0, 0),
            ("L10 without a count", "Error L10 (output buffer overflow): many messages dropped", false, [], nil, 0, 0),
            ("L10 not after Error", "Warning L10 (output buffer overflow): 5 messages dropped", false, [], nil, 0, 0),
        ]
        for c in cases {
            let r = read(c.line, router: c.router)
            XCTAssertEqual(r.metrics, c.metrics, c.name)
            XCTAssertEqual(r.source, c.source, c.name)
            XCTAssertEqual(r.bad, c.bad, c.name)
            XCTAssertEqual(r.empty, c.empty, c.name)
        }
    }

    func testHerokuDyno() {
        let cases: [(String, String)] = [
            ("heroku.2808254.web.1.d97d0ea7-cf3d-411b-b453-d2943a50b456", "web.1"),
            ("heroku.1.worker.12.D97D0EA7-CF3D-411B-B453-D2943A50B456", "worker.12"),
            ("heroku.2808254.web.1", "heroku.2808254.web.1"),
            ("heroku.x.web.1.d97d0ea7-cf3d-411b-b453-d2943a50b456", "heroku.x.web.1.d97d0ea7-cf3d-411b-b453-d2943a50b456"),
            ("web.1", "web.1"),
        ]
        for (s, e) in cases {
            XCTAssertEqual(withBytes(s) { text(Conventions.herokuDyno($0)) }, e, s)
        }
    }

    func testSanitize() {
        let cases: [(String, String)] = [
            ("db.latency", "db.latency"),
            ("a b/c|d", "a_b_c_d"),
            ("Az09.:_-", "Az09.:_-"),
            ("café", "caf_"),            // é is two bytes, one character: one _
            ("日本", "__"),               // three bytes each
            ("😀x", "_x"),               // four bytes
            ("", ""),
            (String(repeating: "a", count: 300), String(repeating: "a", count: 255)),
        ]
        for (s, e) in cases { XCTAssertEqual(NameSanitizer.sanitize(s), e, s) }
    }
}
