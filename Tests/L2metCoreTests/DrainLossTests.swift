import XCTest
@testable import L2metCore

/// log-shuttle's own loss reports (`Logplex-Drop-Count`, `Logplex-Lost-Count`) become the counters
/// `logshuttle.dropped` and `logshuttle.lost` of the drain, as `logplex.l10` does for logplex.
final class DrainLossTests: XCTestCase {
    let minute: Int64 = 1_234_567_860  // t0 floored to 60 s
    let now = t0Micros + 5_000_000

    func testHeaderValues() {
        XCTAssertEqual(DrainLoss(dropCount: "7", lostCount: nil), DrainLoss(dropped: 7))
        XCTAssertEqual(DrainLoss(dropCount: nil, lostCount: "12"), DrainLoss(lost: 12))
        XCTAssertEqual(DrainLoss(dropCount: "0", lostCount: "0"), DrainLoss())
        XCTAssertTrue(DrainLoss(dropCount: "0", lostCount: nil).isEmpty)
        // Not a whole number 0 or more: ignored, never an error.
        for bad in ["", "-3", "+3", "7.5", "1e3", "seven", "7 ", "1234567890123456", "٣"] {
            XCTAssertEqual(DrainLoss(dropCount: bad, lostCount: bad), DrainLoss(), "header value \(bad.debugDescription)")
        }
    }

    func testLossBecomesCountersOfTheDrainAtReceiveTime() {
        let r = Register(deadline: 2)
        let options = DrainOptions(token: "tok", resolution: 60)
        XCTAssertEqual(r.add(DrainLoss(dropped: 7, lost: 3), options: options, nowMicros: now), 2)
        XCTAssertEqual(r.add(DrainLoss(dropped: 5), options: options, nowMicros: now + 1_000_000), 1)
        let all = r.takeAll().sorted { $0.key.name < $1.key.name }
        XCTAssertEqual(all.map(\.key.name), ["logshuttle.dropped", "logshuttle.lost"])
        XCTAssertEqual(all.map(\.data.sum), [12, 3])
        for b in all {
            XCTAssertEqual(b.key.kind, .counter)
            XCTAssertEqual(b.key.token, "tok")
            XCTAssertEqual(b.key.source, "")
            XCTAssertEqual(b.key.units, "")
            XCTAssertEqual(b.key.resolution, 60)
            XCTAssertEqual(b.key.time, minute)
        }
    }

    func testPrefixesApplyAsForTheL10Counter() {
        let options = DrainOptions(token: "tok", resolution: 10, prefix: "shop", sourcePrefix: "eu")
        let l10 = Register(deadline: 2)
        _ = l10.ingest(Array(frame("Error L10 (output buffer overflow): 4 messages dropped since x",
                                   procid: "logplex", app: "heroku").utf8),
                       options: options, nowMicros: now)
        let shuttle = Register(deadline: 2)
        shuttle.add(DrainLoss(lost: 4), options: options, nowMicros: now)
        let a = l10.takeAll()[0].key, b = shuttle.takeAll()[0].key
        XCTAssertEqual(a.name, "shop.logplex.l10")
        XCTAssertEqual(b.name, "shop.logshuttle.lost")
        XCTAssertEqual(b.source, a.source)
        XCTAssertEqual(b.source, "eu")
        XCTAssertEqual(b.resolution, 10)
        XCTAssertEqual(b.time, (t0 + 5) / 10 * 10)
    }

    func testLossMergesWithLinesOfTheSameBucket() {
        let r = Register(deadline: 2)
        let options = DrainOptions(token: "tok", resolution: 60)
        _ = r.ingest(Array(frame("count#logshuttle.dropped=2").utf8), options: options, nowMicros: now)
        r.add(DrainLoss(dropped: 7), options: options, nowMicros: now)
        XCTAssertEqual(r.bucketCount, 1)
        XCTAssertEqual(r.takeAll()[0].data.sum, 9)
    }

    func testNothingToCountAddsNoBucket() {
        let r = Register(deadline: 2)
        XCTAssertEqual(r.add(DrainLoss(), options: DrainOptions(token: "tok"), nowMicros: now), 0)
        XCTAssertEqual(r.bucketCount, 0)
    }
}
