import Foundation
import L2metHTTP
import XCTest

/// Under pressure idle connections make room (oldest first), one address cannot take every slot,
/// and a slow head is closed sooner than a slow body.
final class HTTPServerConnectionPressureTests: XCTestCase {
    /// Opens a connection, has one request answered on it, and waits until the server counts it idle.
    private func idleConnection(_ server: HTTPServer, source: String? = nil, path: String) throws -> RawSocket {
        let idleBefore = server.idleConnections
        let socket = try RawSocket(port: server.boundPort, timeout: 10, source: source)
        socket.send("GET \(path) HTTP/1.1\r\n\r\n")
        XCTAssertEqual(socket.receiveResponses(1).first?.headers["x-echo-path"], path)
        XCTAssertTrue(waitUntil { server.idleConnections >= idleBefore + 1 }, "\(path) is idle")
        return socket
    }

    private func assertServed(_ socket: RawSocket, _ path: String, file: StaticString = #filePath, line: UInt = #line) {
        socket.send("GET \(path) HTTP/1.1\r\n\r\n")
        let response = socket.receiveResponses(1).first
        XCTAssertEqual(response?.status, 200, file: file, line: line)
        XCTAssertEqual(response?.headers["x-echo-path"], path, file: file, line: line)
    }

    private func assertClosedWithoutAnswer(_ socket: RawSocket, file: StaticString = #filePath, line: UInt = #line) {
        let (bytes, closed) = socket.receiveUntilClosed()
        XCTAssertEqual(bytes, [], file: file, line: line)
        XCTAssertTrue(closed, file: file, line: line)
    }

    func testAtTheLimitTheOldestIdleConnectionMakesRoom() throws {
        let server = try makeServer(workers: 2, configure: { $0.maxConnections = 4 })
        defer { server.stop(gracePeriod: 1) }
        let idle = try (0..<4).map { try idleConnection(server, path: "/idle\($0)") }
        XCTAssertEqual(server.openConnections, 4)

        // A fifth connection is accepted and served: the oldest idle one is closed for it.
        let fresh = try RawSocket(port: server.boundPort)
        assertServed(fresh, "/fresh")
        assertClosedWithoutAnswer(idle[0])
        for (i, socket) in idle.enumerated().dropFirst() { assertServed(socket, "/again\(i)") }
        XCTAssertEqual(server.openConnections, 4)

        // Oldest idle means longest idle: `fresh` has been idle longest now (the others were used since).
        let another = try RawSocket(port: server.boundPort)
        assertServed(another, "/another")
        assertClosedWithoutAnswer(fresh)
        assertServed(idle[1], "/still-open")
        XCTAssertEqual(server.openConnections, 4)
    }

    /// Connections that never sent a byte are idle too (a flood of them must not lock drains out),
    /// and many more than the limit can arrive: every new one is still served.
    func testAFloodOfSilentConnectionsDoesNotKeepARequestOut() throws {
        // One worker, so connections are accepted in the order they were made.
        let server = try makeServer(workers: 1, configure: { $0.maxConnections = 50 })
        defer { server.stop(gracePeriod: 1) }
        let silent = try (0..<120).map { _ in try RawSocket(port: server.boundPort) }
        // Every one was accepted: the 70 oldest were closed to make room for the newer.
        XCTAssertTrue(waitUntil { silent.filter { $0.readable() }.count == 70 })
        XCTAssertEqual(server.openConnections, 50)
        let client = try RawSocket(port: server.boundPort)
        assertServed(client, "/drain")
        XCTAssertLessThanOrEqual(server.openConnections, 50)
        // The oldest silent ones were the ones closed.
        assertClosedWithoutAnswer(silent[0])
        XCTAssertFalse(silent[119].readable(), "the newest silent connection is still open")
    }

    func testAPeerOverItsCapLosesItsOwnOldestIdleConnection() throws {
        let server = try makeServer(workers: 2, configure: {
            $0.maxConnections = 100
            $0.maxConnectionsPerPeer = 2
        })
        defer { server.stop(gracePeriod: 1) }
        let other = try idleConnection(server, source: "127.0.0.3", path: "/other")
        let first = try idleConnection(server, source: "127.0.0.2", path: "/p1")
        let second = try idleConnection(server, source: "127.0.0.2", path: "/p2")

        let third = try RawSocket(port: server.boundPort, source: "127.0.0.2")
        assertServed(third, "/p3")
        assertClosedWithoutAnswer(first)
        assertServed(second, "/p2again")
        assertServed(other, "/other-again")
        XCTAssertEqual(server.openConnections, 3)
    }

    func testAPeerWithNothingIdleIsRefusedWhileOthersAreServed() throws {
        let server = try makeServer(workers: 2, configure: {
            $0.maxConnections = 100
            $0.maxConnectionsPerPeer = 2
        })
        defer { server.stop(gracePeriod: 1) }
        let busy = try (0..<2).map { _ in try RawSocket(port: server.boundPort, source: "127.0.0.2") }
        for (i, socket) in busy.enumerated() { socket.send("GET /busy\(i) HTTP/1.1\r\n") }
        XCTAssertTrue(waitUntil { server.openConnections == 2 && server.idleConnections == 0 })

        let refused = try RawSocket(port: server.boundPort, source: "127.0.0.2")
        let (bytes, closed) = refused.receiveUntilClosed()
        XCTAssertTrue(closed)
        let refusal = ParsedResponse.parseAll(bytes).first
        XCTAssertEqual(refusal?.status, 503)
        XCTAssertEqual(refusal?.text, "too many connections from your address\n")
        XCTAssertEqual(refusal?.headers["retry-after"], "5")

        // Another address is served meanwhile, and the busy requests complete.
        let other = try RawSocket(port: server.boundPort, source: "127.0.0.3")
        assertServed(other, "/other")
        for (i, socket) in busy.enumerated() {
            socket.send("\r\n")
            XCTAssertEqual(socket.receiveResponses(1).first?.headers["x-echo-path"], "/busy\(i)")
        }
    }

    func testASlowHeadIsClosedSoonerThanTheRequestTimeout() throws {
        let server = try makeServer(workers: 1, configure: {
            $0.headerTimeout = 0.5
            $0.requestTimeout = 30
        })
        defer { server.stop(gracePeriod: 1) }
        let slow = try RawSocket(port: server.boundPort, timeout: 20)
        let started = Date()
        // A head trickled a byte at a time, never finished.
        let wire = Array("POST /slow HTTP/1.1\r\nContent-Length: 5\r\nX-Padding: ".utf8) + [UInt8](repeating: 97, count: 200)
        for b in wire {
            if slow.readable() { break }
            if !slow.send([b]) { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        let (bytes, closed) = slow.receiveUntilClosed()
        let elapsed = Date().timeIntervalSince(started)
        XCTAssertEqual(ParsedResponse.parseAll(bytes).first?.status, 408)
        XCTAssertTrue(closed)
        XCTAssertLessThan(elapsed, 5, "closed by the head time-out (0.5 s), not the request time-out (30 s)")
    }

    func testABodyMayTakeLongerThanTheHeadTimeout() throws {
        let server = try makeServer(workers: 1, configure: {
            $0.headerTimeout = 0.3
            $0.requestTimeout = 30
        })
        defer { server.stop(gracePeriod: 1) }
        let socket = try RawSocket(port: server.boundPort, timeout: 20)
        socket.send("POST /body HTTP/1.1\r\nContent-Length: 10\r\n\r\n01234")
        Thread.sleep(forTimeInterval: 1.5)
        XCTAssertFalse(socket.readable(), "still open after several head time-outs: the head was complete")
        socket.send("56789")
        let response = socket.receiveResponses(1).first
        XCTAssertEqual(response?.status, 200)
        XCTAssertEqual(response?.text, "0123456789")
    }

    func testTheHeadTimeOutOfAKeepAliveRequestStartsAtItsFirstByte() throws {
        let server = try makeServer(workers: 1, configure: {
            $0.headerTimeout = 0.6
            $0.idleTimeout = 30
        })
        defer { server.stop(gracePeriod: 1) }
        let socket = try RawSocket(port: server.boundPort, timeout: 20)
        assertServedRaw(socket, "/first")
        // Idle for longer than the head time-out: the idle time-out applies, the connection stays.
        Thread.sleep(forTimeInterval: 1.5)
        assertServedRaw(socket, "/second")
        // A head begun and not finished is closed with 408.
        let started = Date()
        socket.send("GET /third HTTP/1.1\r\n")
        let (bytes, closed) = socket.receiveUntilClosed()
        XCTAssertEqual(ParsedResponse.parseAll(bytes).first?.status, 408)
        XCTAssertTrue(closed)
        XCTAssertLessThan(Date().timeIntervalSince(started), 10)
    }

    private func assertServedRaw(_ socket: RawSocket, _ path: String, file: StaticString = #filePath, line: UInt = #line) {
        assertServed(socket, path, file: file, line: line)
    }
}
