import Foundation
import L2metHTTP
import XCTest

/// Timeouts and connection limits: slow or idle clients cost nothing to others and get closed.
final class HTTPServerLimitsTests: XCTestCase {
    func testSlowClientGets408WhileOthersAreServed() throws {
        // One worker, so the slow client and the quick one share an event loop.
        let server = try makeServer(workers: 1, configure: { $0.requestTimeout = 1 })
        defer { server.stop(gracePeriod: 1) }
        let slow = try RawSocket(port: server.boundPort, timeout: 20)
        let slowDone = DispatchSemaphore(value: 0)
        final class Outcome: @unchecked Sendable { var bytes: [UInt8] = []; var closed = false; var sentAll = true }
        let outcome = Outcome()
        Thread.detachNewThread {
            let wire = Array("POST /slow HTTP/1.1\r\nContent-Length: 100\r\n\r\n".utf8)
            for b in wire {
                // Stop trickling as soon as the server has said something (or hung up).
                if slow.readable() { outcome.sentAll = false; break }
                if !slow.send([b]) { outcome.sentAll = false; break }
                Thread.sleep(forTimeInterval: 0.2)
            }
            let (bytes, closed) = slow.receiveUntilClosed()
            outcome.bytes = bytes
            outcome.closed = closed
            slowDone.signal()
        }
        // While the slow one trickles, another client is answered.
        Thread.sleep(forTimeInterval: 0.3)
        let quick = try HTTPClientConnection(host: "127.0.0.1", port: server.boundPort, timeout: 10)
        let r = try quick.request(method: "POST", path: "/quick", headers: [], body: Array("fast".utf8))
        XCTAssertEqual(r.text, "fast")
        XCTAssertEqual(slowDone.wait(timeout: .now() + 0.01), .timedOut, "the slow client is still open after the quick answer")
        XCTAssertEqual(slowDone.wait(timeout: .now() + 30), .success, "the slow client is closed")
        XCTAssertFalse(outcome.sentAll, "the server hung up before the slow request was complete")
        let response = ParsedResponse.parseAll(outcome.bytes).first
        XCTAssertEqual(response?.status, 408)
        XCTAssertEqual(response?.headers["connection"], "close")
        XCTAssertTrue(outcome.closed)
    }

    func testIdleKeepAliveConnectionIsClosed() throws {
        let server = try makeServer(configure: { $0.idleTimeout = 0.3 })
        defer { server.stop(gracePeriod: 1) }
        let socket = try RawSocket(port: server.boundPort, timeout: 20)
        socket.send("GET / HTTP/1.1\r\n\r\n")
        XCTAssertEqual(socket.receiveResponses(1).first?.status, 200)
        let (bytes, closed) = socket.receiveUntilClosed()
        XCTAssertEqual(bytes, [], "an idle connection is closed without an answer")
        XCTAssertTrue(closed)
    }

    func testConnectionThatNeverSpeaksIsClosed() throws {
        let server = try makeServer(configure: { $0.requestTimeout = 0.3 })
        defer { server.stop(gracePeriod: 1) }
        let socket = try RawSocket(port: server.boundPort, timeout: 20)
        let (bytes, closed) = socket.receiveUntilClosed()
        XCTAssertEqual(bytes, [])
        XCTAssertTrue(closed)
        XCTAssertEqual(server.openConnections, 0)
    }

    func testConnectionsBeyondTheLimitAreClosedWhenNoneIsIdle() throws {
        let server = try makeServer(configure: { $0.maxConnections = 2 })
        defer { server.stop(gracePeriod: 1) }
        // Both connections are in the middle of a request: neither is idle, so neither makes room.
        let first = try RawSocket(port: server.boundPort)
        let second = try RawSocket(port: server.boundPort)
        first.send("GET /1 HTTP/1.1\r\n")
        second.send("GET /2 HTTP/1.1\r\n")
        XCTAssertTrue(waitUntil { server.openConnections == 2 && server.idleConnections == 0 })

        let third = try RawSocket(port: server.boundPort)
        let (bytes, closed) = third.receiveUntilClosed()
        XCTAssertTrue(closed, "the connection over the limit is closed at once")
        if let refusal = ParsedResponse.parseAll(bytes).first { XCTAssertEqual(refusal.status, 503) }
        first.send("\r\n")
        second.send("\r\n")
        XCTAssertEqual(first.receiveResponses(1).first?.headers["x-echo-path"], "/1", "the others are unaffected")
        XCTAssertEqual(second.receiveResponses(1).first?.headers["x-echo-path"], "/2")

        first.shutdownWrite()
        XCTAssertTrue(waitUntil { server.openConnections == 1 })
        let fourth = try HTTPClientConnection(host: "127.0.0.1", port: server.boundPort, timeout: 10)
        XCTAssertEqual(try fourth.request(method: "GET", path: "/4", headers: [], body: []).status, 200, "a freed slot is reused")
    }

    func testManyConnectionsAtOnce() throws {
        let server = try makeServer()
        defer { server.stop(gracePeriod: 1) }
        let sockets = try (0..<200).map { _ in try RawSocket(port: server.boundPort) }
        for (i, s) in sockets.enumerated() { s.send("GET /\(i) HTTP/1.1\r\n\r\n") }
        for (i, s) in sockets.enumerated() {
            XCTAssertEqual(s.receiveResponses(1).first?.headers["x-echo-path"], "/\(i)")
        }
    }
    /// A gzip body of a few hundred bytes expands to nearly the body limit; clients that send one
    /// and then stall each held that much memory, so a few hundred of them held gigabytes. Bodies
    /// now share one budget: past it a body gets 503 (with Retry-After) and its memory is freed,
    /// while other clients are still served; what is held goes back to zero when the clients go.
    func testStalledGzipBodiesShareOneMemoryBudget() throws {
        let limit = 256 * 1024
        let budget = 1024 * 1024
        let server = try makeServer(configure: {
            $0.maxBodyBytes = limit
            $0.maxBufferedBodyBytes = budget
            $0.requestTimeout = 30
        })
        defer { server.stop(gracePeriod: 1) }
        let bomb = gzip([UInt8](repeating: 0, count: limit - 1024), level: 9)
        XCTAssertLessThan(bomb.count, 1024)
        let head = Array("POST /logs HTTP/1.1\r\nContent-Encoding: gzip\r\nContent-Length: \(bomb.count)\r\n\r\n".utf8)
        var stalled: [RawSocket] = []
        for _ in 0..<20 {
            let socket = try RawSocket(port: server.boundPort, timeout: 10)
            socket.send(head + bomb.dropLast(16))   // all but the gzip trailer: the body never completes
            stalled.append(socket)
        }
        // Every stalled body is either held (within the budget) or refused with 503.
        var refused = 0
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            refused = stalled.filter { $0.readable() }.count
            if refused >= 20 - budget / limit { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        XCTAssertLessThanOrEqual(server.bufferedBodyBytes, budget)
        XCTAssertGreaterThanOrEqual(refused, 20 - budget / limit, "bodies past the budget are refused, not held")
        for socket in stalled where socket.readable() {
            let (bytes, closed) = socket.receiveUntilClosed()
            let response = ParsedResponse.parseAll(bytes).first
            XCTAssertEqual(response?.status, 503)
            XCTAssertEqual(response?.headers["retry-after"], "5")
            XCTAssertTrue(closed)
        }
        // Others are still served meanwhile.
        let client = try HTTPClientConnection(host: "127.0.0.1", port: server.boundPort, timeout: 10)
        XCTAssertEqual(try client.request(method: "POST", path: "/", headers: [], body: Array("alive".utf8)).text, "alive")
        // Closing the stalled clients gives their memory back.
        stalled.removeAll()
        let end = Date().addingTimeInterval(10)
        while server.bufferedBodyBytes > 0 && Date() < end { Thread.sleep(forTimeInterval: 0.05) }
        XCTAssertEqual(server.bufferedBodyBytes, 0)
        // And a body near the limit fits again.
        let big = [UInt8](repeating: 66, count: limit)
        XCTAssertEqual(try client.request(method: "POST", path: "/", headers: [("Content-Encoding", "gzip")], body: gzip(big)).body, big)
        XCTAssertEqual(server.bufferedBodyBytes, 0)
    }
}
