import Foundation
import L2metHTTP
import XCTest

/// Well-formed requests: bodies in every framing and encoding, keep-alive, pipelining, 100-continue.
final class HTTPServerRequestTests: XCTestCase {
    func testPostWithContentLengthReachesTheHandlerParsed() throws {
        let log = RequestLog()
        let server = try makeServer(handler: { request in
            log.append(request)
            return echoResponse(request)
        })
        defer { server.stop(gracePeriod: 1) }
        XCTAssertGreaterThan(server.boundPort, 0)
        let client = try HTTPClientConnection(host: "127.0.0.1", port: server.boundPort, timeout: 10)
        defer { client.close() }
        let body = Array("83 <40>1 2012-11-30T06:45:29+00:00 host app web.3 - measure#db.latency=20ms\n".utf8)
        let r = try client.request(method: "POST", path: "/logs?resolution=1&prefix=a%2Eb+c",
                                   headers: [("Content-Type", "application/logplex-1"), ("X-Mixed-Case", "Value ")],
                                   body: body)
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.body, body)
        XCTAssertEqual(r.header("content-length"), "\(body.count)")
        XCTAssertNotNil(r.header("Date"))
        let seen = try XCTUnwrap(log.requests.first)
        XCTAssertEqual(seen.method, "POST")
        XCTAssertEqual(seen.path, "/logs")
        XCTAssertEqual(seen.query, "resolution=1&prefix=a%2Eb+c")
        XCTAssertEqual(seen.queryValue("resolution"), "1")
        XCTAssertEqual(seen.queryValue("prefix"), "a.b c")
        XCTAssertNil(seen.queryValue("source-prefix"))
        XCTAssertEqual(seen.header("x-mixed-case"), "Value")
        XCTAssertEqual(seen.header("Content-Type"), "application/logplex-1")
        XCTAssertTrue(seen.headers.contains { $0.name == "x-mixed-case" }, "header names are lower-cased")
        XCTAssertEqual(seen.body, body)
    }

    func testChunkedBodyWithExtensionsAndTrailers() throws {
        let server = try makeServer()
        defer { server.stop(gracePeriod: 1) }
        let body = Array((0..<5000).map { UInt8(truncatingIfNeeded: $0 % 251) })
        let socket = try RawSocket(port: server.boundPort)
        socket.send(Array("POST /logs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".utf8) + chunked(body, size: 777))
        let responses = socket.receiveResponses(1)
        XCTAssertEqual(responses.first?.status, 200)
        XCTAssertEqual(responses.first?.body, body)
    }

    func testChunkedBodyThroughTheClient() throws {
        let server = try makeServer()
        defer { server.stop(gracePeriod: 1) }
        let client = try HTTPClientConnection(host: "127.0.0.1", port: server.boundPort, timeout: 10)
        let body = Array("hello, chunked world".utf8)
        let r = try client.request(method: "POST", path: "/c", headers: [("Transfer-Encoding", "chunked")],
                                   body: chunked(body, size: 3, trailers: false))
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.body, body)
    }

    func testGzipBodyIsDecoded() throws {
        let server = try makeServer()
        defer { server.stop(gracePeriod: 1) }
        let body = Array(String(repeating: "count#requests=1 sample#load=0.5\n", count: 2000).utf8)
        let client = try HTTPClientConnection(host: "127.0.0.1", port: server.boundPort, timeout: 10)
        let r = try client.request(method: "POST", path: "/logs", headers: [("Content-Encoding", "gzip")], body: gzip(body))
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.body, body)
    }

    func testChunkedGzipBodyIsDecoded() throws {
        let server = try makeServer()
        defer { server.stop(gracePeriod: 1) }
        let body = Array((0..<200_000).map { UInt8(truncatingIfNeeded: ($0 * 7) % 13 + 65) })
        let client = try HTTPClientConnection(host: "127.0.0.1", port: server.boundPort, timeout: 10)
        let r = try client.request(method: "POST", path: "/logs",
                                   headers: [("Content-Encoding", "GZIP"), ("Transfer-Encoding", "chunked")],
                                   body: chunked(gzip(body), size: 100))
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.body, body)
    }

    func testConcatenatedGzipMembersAreOneBody() throws {
        let server = try makeServer()
        defer { server.stop(gracePeriod: 1) }
        let client = try HTTPClientConnection(host: "127.0.0.1", port: server.boundPort, timeout: 10)
        let r = try client.request(method: "POST", path: "/logs", headers: [("Content-Encoding", "gzip")],
                                   body: gzip(Array("first ".utf8)) + gzip(Array("second".utf8)))
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.text, "first second")
    }

    func testKeepAliveServesSeveralRequestsOnOneConnection() throws {
        let server = try makeServer()
        defer { server.stop(gracePeriod: 1) }
        let client = try HTTPClientConnection(host: "127.0.0.1", port: server.boundPort, timeout: 10)
        for i in 0..<10 {
            let r = try client.request(method: "POST", path: "/n/\(i)", headers: [], body: Array("body \(i)".utf8))
            XCTAssertEqual(r.status, 200)
            XCTAssertEqual(r.text, "body \(i)")
            XCTAssertEqual(r.header("x-echo-path"), "/n/\(i)")
            XCTAssertNil(r.header("connection"))
            XCTAssertTrue(client.isOpen)
        }
        XCTAssertEqual(server.openConnections, 1)
    }

    func testPipelinedRequestsAreAnsweredInOrder() throws {
        let server = try makeServer()
        defer { server.stop(gracePeriod: 1) }
        let socket = try RawSocket(port: server.boundPort)
        var wire = ""
        for i in 0..<20 {
            let body = "payload-\(i)"
            wire += "POST /p/\(i) HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        }
        wire += "GET /last HTTP/1.1\r\nHost: x\r\n\r\n"
        socket.send(wire)
        let responses = socket.receiveResponses(21)
        XCTAssertEqual(responses.count, 21)
        for (i, r) in responses.prefix(20).enumerated() {
            XCTAssertEqual(r.status, 200)
            XCTAssertEqual(r.headers["x-echo-path"], "/p/\(i)")
            XCTAssertEqual(r.text, "payload-\(i)")
        }
        XCTAssertEqual(responses.last?.headers["x-echo-path"], "/last")
    }

    func testPipelinedRequestsSplitAtEveryByte() throws {
        let server = try makeServer()
        defer { server.stop(gracePeriod: 1) }
        let socket = try RawSocket(port: server.boundPort)
        let wire = Array("POST /a?x=1 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcPOST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n".utf8)
        for b in wire {
            socket.send([b])
        }
        let responses = socket.receiveResponses(2)
        XCTAssertEqual(responses.map(\.text), ["abc", "xy"])
        XCTAssertEqual(responses.map { $0.headers["x-echo-path"] ?? "" }, ["/a", "/b"])
    }

    func testExpectContinueIsAnsweredBeforeTheBody() throws {
        let server = try makeServer()
        defer { server.stop(gracePeriod: 1) }
        let socket = try RawSocket(port: server.boundPort)
        socket.send("POST /logs HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        let interim = try XCTUnwrap(socket.receiveSome())
        XCTAssertEqual(String(decoding: interim, as: UTF8.self), "HTTP/1.1 100 Continue\r\n\r\n")
        socket.send("hello")
        let responses = socket.receiveResponses(1)
        XCTAssertEqual(responses.first?.status, 200)
        XCTAssertEqual(responses.first?.text, "hello")
    }

    func testExpectContinueWithTooLargeBodyGets413WithoutContinue() throws {
        let server = try makeServer(configure: { $0.maxBodyBytes = 100 })
        defer { server.stop(gracePeriod: 1) }
        let socket = try RawSocket(port: server.boundPort)
        socket.send("POST /logs HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\nExpect: 100-continue\r\n\r\n")
        let (bytes, closed) = socket.receiveUntilClosed()
        XCTAssertTrue(String(decoding: bytes, as: UTF8.self).hasPrefix("HTTP/1.1 413 "))
        XCTAssertTrue(closed)
    }

    func testConnectionCloseIsHonoured() throws {
        let server = try makeServer()
        defer { server.stop(gracePeriod: 1) }
        let socket = try RawSocket(port: server.boundPort)
        socket.send("GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        let (bytes, closed) = socket.receiveUntilClosed()
        let r = try XCTUnwrap(ParsedResponse.parseAll(bytes).first)
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.headers["connection"], "close")
        XCTAssertTrue(closed)
    }

    func testHTTP10ClosesUnlessKeepAlive() throws {
        let server = try makeServer()
        defer { server.stop(gracePeriod: 1) }
        let plain = try RawSocket(port: server.boundPort)
        plain.send("GET /x HTTP/1.0\r\n\r\n")
        let (bytes, closed) = plain.receiveUntilClosed()
        XCTAssertEqual(ParsedResponse.parseAll(bytes).first?.status, 200)
        XCTAssertTrue(closed)

        let keep = try RawSocket(port: server.boundPort)
        keep.send("GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        let responses = keep.receiveResponses(2)
        XCTAssertEqual(responses.count, 2)
        XCTAssertEqual(responses.first?.headers["connection"], "keep-alive")
        XCTAssertEqual(responses.last?.headers["x-echo-path"], "/2")
    }

    func testHeadOmitsTheBodyButKeepsItsLength() throws {
        let server = try makeServer(handler: { _ in .text(200, "twelve bytes") })
        defer { server.stop(gracePeriod: 1) }
        let client = try HTTPClientConnection(host: "127.0.0.1", port: server.boundPort, timeout: 10)
        let head = try client.request(method: "HEAD", path: "/health", headers: [], body: [])
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.header("content-length"), "13")
        XCTAssertEqual(head.body, [])
        // The connection is still in step: the next answer is the GET's.
        let get = try client.request(method: "GET", path: "/health", headers: [], body: [])
        XCTAssertEqual(get.text, "twelve bytes\n")
    }

    func testAbsoluteFormTargetAndFragment() throws {
        let server = try makeServer()
        defer { server.stop(gracePeriod: 1) }
        let socket = try RawSocket(port: server.boundPort)
        socket.send("GET http://example.com:80/logs?a=1 HTTP/1.1\r\nHost: x\r\n\r\nGET /f?q=2#frag HTTP/1.1\r\n\r\n")
        let responses = socket.receiveResponses(2)
        XCTAssertEqual(responses.first?.headers["x-echo-path"], "/logs")
        XCTAssertEqual(responses.first?.headers["x-echo-query"], "a=1")
        XCTAssertEqual(responses.last?.headers["x-echo-path"], "/f")
        XCTAssertEqual(responses.last?.headers["x-echo-query"], "q=2")
    }

    func testLargeResponseIsWrittenCompletely() throws {
        let big = Array((0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let server = try makeServer(handler: { _ in HTTPResponse(status: 200, body: big) })
        defer { server.stop(gracePeriod: 1) }
        let socket = try RawSocket(port: server.boundPort)
        socket.send("GET /big HTTP/1.1\r\n\r\nGET /big HTTP/1.1\r\n\r\n")
        Thread.sleep(forTimeInterval: 0.2)  // let the server hit a full socket buffer (EAGAIN)
        let responses = socket.receiveResponses(2)
        XCTAssertEqual(responses.count, 2)
        XCTAssertTrue(responses.allSatisfy { $0.body == big })
    }

    func testHandlerHeadersCannotBreakFraming() throws {
        let server = try makeServer(handler: { _ in
            HTTPResponse(status: 200, headers: [("Content-Length", "999"), ("X-Bad", "a\r\nInjected: yes")], body: Array("ok".utf8))
        })
        defer { server.stop(gracePeriod: 1) }
        let client = try HTTPClientConnection(host: "127.0.0.1", port: server.boundPort, timeout: 10)
        let r = try client.request(method: "GET", path: "/", headers: [], body: [])
        XCTAssertEqual(r.text, "ok")
        XCTAssertEqual(r.header("content-length"), "2")
        XCTAssertNil(r.header("injected"))
        XCTAssertEqual(try client.request(method: "GET", path: "/", headers: [], body: []).text, "ok")
    }

    func testRandomPipelinesInRandomPiecesAreParsedExactly() throws {
        let server = try makeServer(workers: 1)
        defer { server.stop(gracePeriod: 1) }
        var rng = SystemRandomNumberGenerator()
        for round in 0..<40 {
            var wire: [UInt8] = []
            var bodies: [[UInt8]] = []
            for i in 0..<Int.random(in: 1...6, using: &rng) {
                let body = (0..<Int.random(in: 0...3000, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                bodies.append(body)
                let useGzip = Bool.random(using: &rng)
                let payload = useGzip ? gzip(body) : body
                var head = "POST /r\(round)/\(i) HTTP/1.1\r\nHost: x\r\n"
                if useGzip { head += "Content-Encoding: gzip\r\n" }
                if Bool.random(using: &rng) {
                    head += "Transfer-Encoding: chunked\r\n\r\n"
                    wire += Array(head.utf8) + chunked(payload, size: Int.random(in: 1...700, using: &rng),
                                                       trailers: Bool.random(using: &rng))
                } else {
                    head += "Content-Length: \(payload.count)\r\n\r\n"
                    wire += Array(head.utf8) + payload
                }
            }
            let socket = try RawSocket(port: server.boundPort)
            var offset = 0
            while offset < wire.count {
                let n = min(wire.count - offset, Int.random(in: 1...2000, using: &rng))
                socket.send(Array(wire[offset..<(offset + n)]))
                offset += n
            }
            let responses = socket.receiveResponses(bodies.count)
            XCTAssertEqual(responses.count, bodies.count, "round \(round)")
            for (i, r) in responses.enumerated() {
                XCTAssertEqual(r.headers["x-echo-path"], "/r\(round)/\(i)")
                XCTAssertEqual(r.body, bodies[i], "round \(round) request \(i)")
            }
        }
    }
}
