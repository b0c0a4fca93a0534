import L2metOutlet
import XCTest

/// The retry rules: which answers are retried, how long to wait, how long a claim is leased.
final class RetryPolicyTests: XCTestCase {
    func testVerdicts() {
        let table: [(Int?, DeliveryVerdict)] = [
            (200, .accepted), (201, .accepted), (202, .accepted), (204, .accepted),
            (429, .retry), (408, .retry), (500, .retry), (502, .retry), (503, .retry), (504, .retry), (nil, .retry),
            (400, .refused), (401, .refused), (403, .refused), (404, .refused), (415, .refused), (422, .refused),
            (301, .refused),
        ]
        for (status, expected) in table {
            XCTAssertEqual(RetryPolicy.verdict(HTTPPostResult(status: status)), expected, "status \(String(describing: status))")
        }
        XCTAssertEqual(RetryPolicy.verdict(HTTPPostResult(status: nil, failure: "timed out", timedOut: true)), .retry)
    }

    func testBackOffCeilingsDoubleUpToTheCap() {
        let p = RetryPolicy(base: 0.5, cap: 30, maxRetryAfter: 60)
        XCTAssertEqual((1...9).map { p.ceiling(afterAttempt: $0) }, [0.5, 1, 2, 4, 8, 16, 30, 30, 30])
        XCTAssertEqual(p.ceiling(afterAttempt: 500), 30)
    }

    func testDelayIsFullJitterButNeverBelowRetryAfter() {
        let p = RetryPolicy(base: 0.5, cap: 30, maxRetryAfter: 60)
        XCTAssertEqual(p.delay(afterAttempt: 1, retryAfter: nil, random: 0), 0)
        XCTAssertEqual(p.delay(afterAttempt: 1, retryAfter: nil, random: 0.5), 0.25)
        XCTAssertEqual(p.delay(afterAttempt: 4, retryAfter: nil, random: 0.5), 2)
        XCTAssertEqual(p.delay(afterAttempt: 1, retryAfter: 2, random: 0.9), 2)        // Retry-After wins
        XCTAssertEqual(p.delay(afterAttempt: 7, retryAfter: 2, random: 0.5), 15)       // jitter above it wins
        XCTAssertEqual(p.delay(afterAttempt: 1, retryAfter: 3600, random: 0), 60)      // capped at maxRetryAfter
        for attempt in 1...8 {
            for _ in 0..<50 {
                let d = p.delay(afterAttempt: attempt, retryAfter: nil)
                XCTAssertGreaterThanOrEqual(d, 0)
                XCTAssertLessThanOrEqual(d, p.ceiling(afterAttempt: attempt))
            }
        }
    }

    func testDefaultLeaseLeavesRoomForTheQueueAndOneRequest() {
        var c = OutletConfiguration()
        // A claim makes one attempt per request: 4 request time-outs and 30 s.
        XCTAssertEqual(c.effectiveLease, 4 * 30 + 30)
        c.lease = 42
        XCTAssertEqual(c.effectiveLease, 42)
        c.lease = nil
        c.requestTimeout = 10
        XCTAssertEqual(c.effectiveLease, 4 * 10 + 30)
    }

    func testRetryAfterSecondsAndDates() {
        let now = 1_445_412_480.0  // Wed, 21 Oct 2015 07:28:00 GMT
        XCTAssertEqual(RetryAfter.seconds("1", now: now), 1)
        XCTAssertEqual(RetryAfter.seconds(" 120\r\n", now: now), 120)
        XCTAssertEqual(RetryAfter.seconds("Wed, 21 Oct 2015 07:28:10 GMT", now: now), 10)
        XCTAssertEqual(RetryAfter.seconds("Wednesday, 21-Oct-15 07:28:30 GMT", now: now), 30)
        XCTAssertEqual(RetryAfter.seconds("Wed Oct 21 07:29:00 2015", now: now), 60)
        XCTAssertEqual(RetryAfter.seconds("Wed, 21 Oct 2015 07:00:00 GMT", now: now), 0)   // in the past
        XCTAssertNil(RetryAfter.seconds("soon", now: now))
        XCTAssertNil(RetryAfter.seconds("", now: now))
        XCTAssertNil(RetryAfter.seconds("-5", now: now))
    }
}
