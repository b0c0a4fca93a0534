import Foundation
import L2metHTTP
import XCTest

/// Whatever a client sends, the server answers the right 4xx/5xx with a short text and closes, and
/// the handler never sees the request.
final class HTTPServerMalformedTests: XCTestCase {
    struct Case {
        let name: String
        let wire: [UInt8]
        let status: Int
        init(_ name: String, _ wire: String, _ status: Int) {
            self.name = name
            self.wire = Array(wire.utf8)
            self.status = status
        }
        init(_ name: String, bytes: [UInt8], _ status: Int) {
            self.name = name
            self.wire = bytes
            self.status = status
        }
    }

    static let limit = 64 * 1024

    static var cases: [Case] {
        let bomb = gzip([UInt8](repeating: 0, count: 8 * limit))
        return [
            Case("garbage request line", "GARBAGE\r\n\r\n", 400),
            Case("request line without version", "GET /\r\n\r\n", 400),
            Case("two spaces in request line", "GET  / HTTP/1.1\r\n\r\n", 400),
            Case("lower-case version", "GET / http/1.1\r\n\r\n", 400),
            Case("control character in target", "GET /a\u{01}b HTTP/1.1\r\n\r\n", 400),
            Case("binary noise", bytes: [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 10, 13, 10, 13, 10], 400),
            Case("unsupported version", "GET / HTTP/2.0\r\n\r\n", 505),
            Case("header without colon", "GET / HTTP/1.1\r\nBad Header\r\n\r\n", 400),
            Case("space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),
            Case("folded header", "GET / HTTP/1.1\r\nX-A: 1\r\n  continued\r\n\r\n", 400),
            Case("NUL in header value", "GET / HTTP/1.1\r\nX-A: a\u{0}b\r\n\r\n", 400),
            Case("both Content-Length and chunked",
                 "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400),
            Case("non-numeric Content-Length", "POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400),
            Case("negative Content-Length", "POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\nhello", 400),
            Case("Content-Length with sign", "POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\nhello", 400),
            Case("enormous Content-Length", "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400),
            Case("conflicting Content-Lengths", "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400),
            Case("bad chunk size", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400),
            Case("empty chunk size", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\r\nhello\r\n0\r\n\r\n", 400),
            Case("negative chunk size", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n", 400),
            Case("overflowing chunk size", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n", 400),
            Case("chunk longer than its size", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n", 400),
            Case("unknown transfer coding", "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
            Case("unknown content coding", "POST / HTTP/1.1\r\nContent-Encoding: br\r\nContent-Length: 1\r\n\r\nx", 415),
            Case("unknown expectation", "POST / HTTP/1.1\r\nExpect: tea\r\nContent-Length: 1\r\n\r\nx", 417),
            Case("bad gzip", "POST / HTTP/1.1\r\nContent-Encoding: gzip\r\nContent-Length: 11\r\n\r\nhello world", 400),
            Case("truncated gzip", bytes: Array("POST / HTTP/1.1\r\nContent-Encoding: gzip\r\nContent-Length: 20\r\n\r\n".utf8)
                 + gzip(Array(String(repeating: "abc", count: 100).utf8)).prefix(20), 400),
            Case("huge header", "GET / HTTP/1.1\r\nX-Big: \(String(repeating: "a", count: 20_000))\r\n\r\n", 431),
            Case("endless header without end", "GET / HTTP/1.1\r\nX-Big: \(String(repeating: "a", count: 40_000))", 431),
            Case("body over the limit", "POST / HTTP/1.1\r\nContent-Length: \(limit + 1)\r\n\r\n", 413),
            Case("chunked body over the limit", bytes: Array("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
                 + chunked([UInt8](repeating: 65, count: limit + 10), size: 4096), 413),
            Case("gzip bomb", bytes: Array("POST / HTTP/1.1\r\nContent-Encoding: gzip\r\nContent-Length: \(bomb.count)\r\n\r\n".utf8)
                 + bomb, 413),
            Case("huge trailers", bytes: Array("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n".utf8)
                 + Array(String(repeating: "X-T: 0123456789\r\n", count: 2000).utf8) + [13, 10], 431),
        ]
    }

    func testMalformedRequestsAreRefusedAndClosed() throws {
        let handled = RequestLog()
        let observer = RecordingObserver()
        let server = try makeServer(configure: { $0.maxBodyBytes = Self.limit; $0.maxHeaderBytes = 16 * 1024 }, observer: observer) {
            handled.append($0)
            return HTTPResponse(status: 200)
        }
        defer { server.stop(gracePeriod: 1) }
        let cases = Self.cases
        for c in cases {
            let socket = try RawSocket(port: server.boundPort)
            socket.send(c.wire)
            let (bytes, closed) = socket.receiveUntilClosed()
            let response = ParsedResponse.parseAll(bytes).first
            XCTAssertEqual(response?.status, c.status, c.name)
            XCTAssertFalse(response?.body.isEmpty ?? true, "\(c.name): a short text says why")
            XCTAssertEqual(response?.headers["connection"], "close", c.name)
            XCTAssertTrue(closed, "\(c.name): the connection is closed")
        }
        XCTAssertEqual(handled.requests.count, 0, "no malformed request reaches the handler")
        XCTAssertEqual(observer.wait(for: cases.count).map(\.status), cases.map(\.status))
        // The server is still healthy.
        let client = try HTTPClientConnection(host: "127.0.0.1", port: server.boundPort, timeout: 10)
        XCTAssertEqual(try client.request(method: "GET", path: "/", headers: [], body: []).status, 200)
    }

    func testShortBodyThenCloseNeverReachesTheHandler() throws {
        let handled = RequestLog()
        let server = try makeServer(handler: { handled.append($0); return HTTPResponse(status: 200) })
        defer { server.stop(gracePeriod: 1) }
        let socket = try RawSocket(port: server.boundPort)
        socket.send("POST /logs HTTP/1.1\r\nContent-Length: 100\r\n\r\nonly ten b")
        socket.shutdownWrite()
        let (bytes, closed) = socket.receiveUntilClosed()
        XCTAssertEqual(bytes, [], "no answer for a request that never completed")
        XCTAssertTrue(closed)
        XCTAssertEqual(handled.requests.count, 0)
    }

    func testMalformedRequestAfterAGoodOneOnTheSameConnection() throws {
        let server = try makeServer()
        defer { server.stop(gracePeriod: 1) }
        let socket = try RawSocket(port: server.boundPort)
        socket.send("POST /ok HTTP/1.1\r\nContent-Length: 2\r\n\r\nokBROKEN LINE\r\n\r\n")
        let (bytes, closed) = socket.receiveUntilClosed()
        let responses = ParsedResponse.parseAll(bytes)
        XCTAssertEqual(responses.map(\.status), [200, 400])
        XCTAssertEqual(responses.first?.text, "ok")
        XCTAssertTrue(closed)
    }

    func testRandomBytesNeverCrashTheServer() throws {
        let server = try makeServer(configure: { $0.maxHeaderBytes = 2048; $0.maxBodyBytes = 4096 })
        defer { server.stop(gracePeriod: 1) }
        var generator = SystemRandomNumberGenerator()
        let fragments = ["GET ", "POST ", "/", " HTTP/1.1", "\r\n", "\n", ":", "Content-Length: ", "Transfer-Encoding: chunked",
                         "Content-Encoding: gzip", "0", "5", "ff", ";", " ", "\u{0}", "hello", "\r\n\r\n", "Expect: 100-continue"]
        for _ in 0..<(Int(ProcessInfo.processInfo.environment["HTTP_FUZZ_ITERATIONS"] ?? "") ?? 150) {
            var wire: [UInt8] = []
            for _ in 0..<Int.random(in: 1...30, using: &generator) {
                if Bool.random(using: &generator) {
                    wire += Array(fragments.randomElement(using: &generator)!.utf8)
                } else {
                    wire += (0..<Int.random(in: 1...8, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
                }
            }
            let socket = try RawSocket(port: server.boundPort, timeout: 5)
            socket.send(wire)
            socket.shutdownWrite()
            _ = socket.receiveUntilClosed()
        }
        let client = try HTTPClientConnection(host: "127.0.0.1", port: server.boundPort, timeout: 10)
        XCTAssertEqual(try client.request(method: "POST", path: "/", headers: [], body: Array("alive".utf8)).text, "alive")
    }

    func testLimitsAreInclusive() throws {
        let server = try makeServer(configure: { $0.maxHeaderBytes = 1024; $0.maxBodyBytes = 1000 })
        defer { server.stop(gracePeriod: 1) }
        // A head of exactly 1024 bytes and a body of exactly 1000 bytes (identity, chunked and gzip) are fine.
        var head = "POST /edge HTTP/1.1\r\nContent-Length: 1000\r\nX-Pad: "
        head += String(repeating: "p", count: 1024 - head.utf8.count - 4) + "\r\n\r\n"
        XCTAssertEqual(head.utf8.count, 1024)
        let body = [UInt8](repeating: 66, count: 1000)
        let socket = try RawSocket(port: server.boundPort)
        socket.send(Array(head.utf8) + body)
        XCTAssertEqual(socket.receiveResponses(1).first?.body, body)

        let client = try HTTPClientConnection(host: "127.0.0.1", port: server.boundPort, timeout: 10)
        XCTAssertEqual(try client.request(method: "POST", path: "/", headers: [("Transfer-Encoding", "chunked")],
                                          body: chunked(body, size: 300)).body, body)
        XCTAssertEqual(try client.request(method: "POST", path: "/", headers: [("Content-Encoding", "gzip")],
                                          body: gzip(body)).body, body)
        let over = try client.request(method: "POST", path: "/", headers: [("Content-Encoding", "gzip")],
                                      body: gzip(body + [66]))
        XCTAssertEqual(over.status, 413)
        XCTAssertEqual(over.header("connection"), "close")
    }
}
