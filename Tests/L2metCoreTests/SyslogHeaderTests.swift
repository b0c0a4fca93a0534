import XCTest
@testable import L2metCore

final class SyslogHeaderTests: XCTestCase {
    struct Expect {
        var timestamp: Int64?
        var host: String
        var app: String
        var proc: String
        var msgID: String
        var text: String
    }

    func testHeaders() {
        let cases: [(name: String, msg: String, expect: Expect?)] = [
            ("Heroku, no structured data", "<158>1 2009-02-13T23:31:30+00:00 host heroku router - at=info connect=1ms\n",
             Expect(timestamp: t0Micros, host: "host", app: "heroku", proc: "router", msgID: "-", text: "at=info connect=1ms")),
            ("log-shuttle, - -", "<190>1 2009-02-13T23:31:30Z h app web.1 - - measure#a=1\n",
             Expect(timestamp: t0Micros, host: "h", app: "app", proc: "web.1", msgID: "-", text: "measure#a=1")),
            ("structured data element", "<190>1 2009-02-13T23:31:30Z h app web.1 ID47 [id a=\"b\"] count#x=2",
             Expect(timestamp: t0Micros, host: "h", app: "app", proc: "web.1", msgID: "ID47", text: "count#x=2")),
            ("two SD elements with escapes", "<190>1 - h app p m [a x=\"q\\\"]\"][b y=\"z\"] text here",
             Expect(timestamp: nil, host: "h", app: "app", proc: "p", msgID: "m", text: "text here")),
            ("text that only looks like SD", "<190>1 - h app p - [not sd] measure#a=1",
             Expect(timestamp: nil, host: "h", app: "app", proc: "p", msgID: "-", text: "[not sd] measure#a=1")),
            ("unterminated SD is text", "<190>1 - h app p - [id a=\"b",
             Expect(timestamp: nil, host: "h", app: "app", proc: "p", msgID: "-", text: "[id a=\"b")),
            ("CRLF stripped once", "<190>1 - h a p - hello\r\n",
             Expect(timestamp: nil, host: "h", app: "a", proc: "p", msgID: "-", text: "hello")),
            ("only one newline stripped", "<190>1 - h a p - hello\n\n",
             Expect(timestamp: nil, host: "h", app: "a", proc: "p", msgID: "-", text: "hello\n")),
            ("no text at all", "<190>1 - h a p m",
             Expect(timestamp: nil, host: "h", app: "a", proc: "p", msgID: "m", text: "")),
            ("bad timestamp is nil, line kept", "<190>1 yesterday h a p - x=1",
             Expect(timestamp: nil, host: "h", app: "a", proc: "p", msgID: "-", text: "x=1")),
            ("BOM before the text (MSG-UTF8) is not text", "<190>1 - h a p - - \u{FEFF}count#x=1\n",
             Expect(timestamp: nil, host: "h", app: "a", proc: "p", msgID: "-", text: "count#x=1")),
            ("BOM with no structured data", "<190>1 - h a p - \u{FEFF}measure#y=2",
             Expect(timestamp: nil, host: "h", app: "a", proc: "p", msgID: "-", text: "measure#y=2")),
            ("a BOM alone is an empty text", "<190>1 - h a p - \u{FEFF}",
             Expect(timestamp: nil, host: "h", app: "a", proc: "p", msgID: "-", text: "")),
            ("no PRI", "190>1 - h a p - x", nil),
            ("PRI not closed", "<190 1 - h a p - x", nil),
            ("no version", "<190> - h a p - x", nil),
            ("fields missing", "<190>1 - h a", nil),
            ("empty", "", nil),
        ]
        for c in cases {
            withBytes(c.msg) { buf in
                let h = SyslogHeader.parse(buf)
                guard let e = c.expect else {
                    XCTAssertNil(h, c.name)
                    return
                }
                guard let h else { return XCTFail("\(c.name): did not parse") }
                XCTAssertEqual(h.timestamp, e.timestamp, c.name)
                XCTAssertEqual(text(h.hostname), e.host, c.name)
                XCTAssertEqual(text(h.appName), e.app, c.name)
                XCTAssertEqual(text(h.procID), e.proc, c.name)
                XCTAssertEqual(text(h.msgID), e.msgID, c.name)
                XCTAssertEqual(text(h.text), e.text, c.name)
            }
        }
    }

    func testTimestamps() {
        // Epoch values worked out by hand: 2009-02-13T23:31:30Z = 1234567890 s; 2001-09-09T01:46:40Z = 10^9 s;
        // 2024-01-01 = 19723 days (54 years, 13 leap days) = 1704067200 s; 2024-02-29 = 19723+59 days = 1709164800 s.
        let cases: [(String, Int64?)] = [
            ("1970-01-01T00:00:00Z", 0),
            ("1969-12-31T23:59:59Z", -1_000_000),
            ("2009-02-13T23:31:30Z", 1_234_567_890_000_000),
            ("2009-02-13T23:31:30.5Z", 1_234_567_890_500_000),
            ("2009-02-13T23:31:30.123456Z", 1_234_567_890_123_456),
            ("2009-02-13T23:31:30.123456789Z", 1_234_567_890_123_456),
            ("2009-02-13T23:31:30.000001+00:00", 1_234_567_890_000_001),
            ("2009-02-14T00:31:30+01:00", 1_234_567_890_000_000),
            ("2009-02-13T18:01:30-05:30", 1_234_567_890_000_000),
            ("2009-02-13T18:01:30.25-05:30", 1_234_567_890_250_000),
            ("2001-09-09T01:46:40Z", 1_000_000_000_000_000),
            ("2024-01-01T00:00:00Z", 1_704_067_200_000_000),
            ("2024-02-29T00:00:00z", 1_709_164_800_000_000),
            ("2024-02-30T00:00:00Z", nil),
            ("2023-02-29T00:00:00Z", nil),
            ("2024-13-01T00:00:00Z", nil),
            ("2024-01-01T24:00:00Z", nil),
            ("2024-01-01T00:00:00", nil),
            ("2024-01-01T00:00:00.Z", nil),
            ("2024-01-01T00:00:00+0100", nil),
            ("2024-01-01T00:00:00Zjunk", nil),
            ("2024-1-01T00:00:00Z", nil),
        ]
        for (s, expected) in cases {
            XCTAssertEqual(withBytes(s) { RFC3339.parseMicros($0) }, expected, s)
        }
    }

    func testDaysFromCivil() {
        XCTAssertEqual(RFC3339.daysFromCivil(year: 1970, month: 1, day: 1), 0)
        XCTAssertEqual(RFC3339.daysFromCivil(year: 2000, month: 3, day: 1), 11_017)  // 10957 days to 2000-01-01 (30 years, 7 leap days) + 31 + 29
        XCTAssertEqual(RFC3339.daysFromCivil(year: 1969, month: 12, day: 31), -1)
    }
}
