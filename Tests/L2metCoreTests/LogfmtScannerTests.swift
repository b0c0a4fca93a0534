import XCTest
@testable import L2metCore

final class LogfmtScannerTests: XCTestCase {
    /// Pairs as (key, value or nil, quoted), values unescaped.
    func pairs(_ line: String) -> [(String, String?, Bool)] {
        withBytes(line) { buf in
            var scanner = LogfmtScanner(buf)
            var out: [(String, String?, Bool)] = []
            let scratch = UnsafeMutableRawPointer.allocate(byteCount: max(1, buf.count), alignment: 1)
            defer { scratch.deallocate() }
            while let p = scanner.next() {
                var v = p.value
                if p.escaped, let raw = v { v = LogfmtScanner.unescape(raw, into: scratch) }
                out.append((text(p.key)!, text(v), p.quoted))
            }
            return out
        }
    }

    func testTable() {
        let cases: [(String, [(String, String?, Bool)])] = [
            ("", []),
            ("   ", []),
            ("a=1", [("a", "1", false)]),
            ("a=1 b=2", [("a", "1", false), ("b", "2", false)]),
            ("  a=1\t\tb=2  ", [("a", "1", false), ("b", "2", false)]),
            ("bare", [("bare", nil, false)]),
            ("count#hits measure#x=4ms", [("count#hits", nil, false), ("measure#x", "4ms", false)]),
            ("k=", [("k", "", false)]),
            ("k= j=2", [("k", "", false), ("j", "2", false)]),
            ("path=\"/a b=c\" x=1", [("path", "/a b=c", true), ("x", "1", false)]),
            ("msg=\"say \\\"hi\\\" now\" y", [("msg", "say \"hi\" now", true), ("y", nil, false)]),
            ("back=\"a\\\\b\"", [("back", "a\\b", true)]),
            ("empty=\"\"", [("empty", "", true)]),
            ("open=\"never closed x=1", [("open", "never closed x=1", true)]),
            ("trailing=\"ends with backslash\\", [("trailing", "ends with backslash\\", true)]),
            ("a==b", [("a", "=b", false)]),
            ("=v", [("", "v", false)]),
            ("averyveryverylongkeyname=averyveryverylongvalue\tnext_key_past_eight_bytes=\u{01}ctl\u{7f}é",
             [("averyveryverylongkeyname", "averyveryverylongvalue", false), ("next_key_past_eight_bytes", "\u{01}ctl\u{7f}é", false)]),
            ("abcdefg=1234567 abcdefgh=12345678", [("abcdefg", "1234567", false), ("abcdefgh", "12345678", false)]),
            ("Completed 200 OK", [("Completed", nil, false), ("200", nil, false), ("OK", nil, false)]),
        ]
        for (line, expected) in cases {
            let got = pairs(line)
            XCTAssertEqual(got.count, expected.count, line)
            for (g, e) in zip(got, expected) {
                XCTAssertEqual(g.0, e.0, line)
                XCTAssertEqual(g.1, e.1, line)
                XCTAssertEqual(g.2, e.2, line)
            }
        }
    }
}
