import XCTest
@testable import L2metCore

final class FrameReaderTests: XCTestCase {
    func frames(_ body: String) -> (messages: [String], broken: Int) {
        withBytes(body) { buf in
            var reader = FrameReader(buf)
            var out: [String] = []
            while let m = reader.next() { out.append(text(m)!) }
            return (out, reader.brokenFrames)
        }
    }

    func testTable() {
        let cases: [(name: String, body: String, messages: [String], broken: Int)] = [
            ("empty body", "", [], 0),
            ("only whitespace", " \n\r\n\t ", [], 0),
            ("one frame", "5 <1>ab", ["<1>ab"], 0),
            ("two frames back to back", "4 <1>a4 <2>b", ["<1>a", "<2>b"], 0),
            ("newline between frames", "4 <1>a\n4 <2>b\n", ["<1>a", "<2>b"], 0),
            ("spaces and CRLF between frames", "4 <1>a  \r\n  4 <2>b", ["<1>a", "<2>b"], 0),
            ("length counts a trailing newline", "5 <1>a\n4 <2>b", ["<1>a\n", "<2>b"], 0),
            ("length larger than the body", "4 <1>a50 <2>bcdef", ["<1>a"], 1),
            ("length larger than the body, alone", "99 <1>a", [], 1),
            ("non-digit length, resync to the next frame", "x4 <1>a4 <2>b", ["<1>a", "<2>b"], 1),
            ("garbage between frames", "4 <1>a garbage here 4 <2>b", ["<1>a", "<2>b"], 1),
            ("zero length", "0 4 <1>a", ["<1>a"], 1),
            ("no space after length", "4<1>a 4 <2>b", ["<2>b"], 1),
            ("absurd length (10 digits)", "1234567890 <1>a 4 <2>b", ["<2>b"], 1),
            ("only garbage", "hello world", [], 1),
            ("digits without a frame after them", "12 34", [], 1),
            ("length too short lands mid-message", "3 <1>abc 4 <2>d", ["<1>", "<2>d"], 1),
        ]
        for c in cases {
            let r = frames(c.body)
            XCTAssertEqual(r.messages, c.messages, c.name)
            XCTAssertEqual(r.broken, c.broken, c.name)
        }
    }
}
