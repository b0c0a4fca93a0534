@testable import L2metHTTP
import XCTest

/// Query decoding and header lookup.
final class HTTPRequestTests: XCTestCase {
    func testQueryValues() {
        let cases: [(query: String, name: String, expected: String?)] = [
            ("resolution=60", "resolution", "60"),
            ("a=1&resolution=5&b=2", "resolution", "5"),
            ("prefix=my.app", "prefix", "my.app"),
            ("prefix=a%2Fb%20c", "prefix", "a/b c"),
            ("prefix=a+b", "prefix", "a b"),
            ("source-prefix=x&source-prefix=y", "source-prefix", "x"),
            ("flag", "flag", ""),
            ("flag=", "flag", ""),
            ("", "x", nil),
            ("xy=1", "x", nil),
            ("bad=%zz%4", "bad", "%zz%4"),
            ("utf=%C3%A9", "utf", "é"),
            ("k%20ey=v", "k ey", "v"),
            ("&&a=1&&", "a", "1"),
        ]
        for c in cases {
            XCTAssertEqual(HTTPRequest(method: "GET", path: "/", query: c.query).queryValue(c.name), c.expected,
                           "\(c.query) \(c.name)")
        }
    }

    func testHeaderLookupIsCaseInsensitive() {
        let r = HTTPRequest(method: "GET", path: "/", headers: [(name: "authorization", value: "Basic x"), (name: "x", value: "1"),
                                                                (name: "x", value: "2")])
        XCTAssertEqual(r.header("Authorization"), "Basic x")
        XCTAssertEqual(r.header("x"), "1")
        XCTAssertNil(r.header("y"))
    }

    func testTextResponse() {
        let r = HTTPResponse.text(404, "not found")
        XCTAssertEqual(r.status, 404)
        XCTAssertEqual(r.body, Array("not found\n".utf8))
        XCTAssertEqual(HTTPResponse.reasonPhrase(413), "Content Too Large")
    }
    /// Found by `scripts/fuzz format`: a target whose "/" is followed by a combining mark. Swift
    /// reads "/" and the mark as one Character, so a Character test (`hasPrefix("/")`) says the
    /// path does not start with "/"; its bytes do, and the parser keeps them as they came.
    func testTargetStartingWithSlashAndACombiningMark() {
        let wire: [UInt8] = Array("PK.T /".utf8) + [0xD9, 0x9F] + Array("60 HTTP/1.1\r\ng:\n4g:\n".utf8)
        let parsed = wire.withUnsafeBytes { RequestHeadParser.parse($0) }
        guard case .success(let head) = parsed else { return XCTFail("\(parsed)") }
        XCTAssertEqual(head.method, "PK.T")
        XCTAssertEqual(Array(head.path.utf8), [0x2F, 0xD9, 0x9F, 0x36, 0x30])
        XCTAssertFalse(head.path.hasPrefix("/"), "one Character: / and the mark")
        XCTAssertEqual(head.headers.map(\.name), ["g", "4g"])
        XCTAssertEqual(head.headers.map(\.value), ["", ""])
        XCTAssertNil(head.contentLength)
        XCTAssertFalse(head.chunked)
    }
}
