import Foundation
import L2metHTTP
import XCTest

/// The blocking client: keep-alive reuse, reconnection, chunked and close-delimited responses, timeouts.
final class HTTPClientConnectionTests: XCTestCase {
    func testReconnectsWhenTheServerClosedAnIdleConnection() throws {
        let server = try makeServer(configure: { $0.idleTimeout = 0.2 })
        defer { server.stop(gracePeriod: 1) }
        let client = try HTTPClientConnection(host: "127.0.0.1", port: server.boundPort, timeout: 10)
        XCTAssertEqual(try client.request(method: "POST", path: "/1", headers: [], body: Array("a".utf8)).text, "a")
        let end = Date().addingTimeInterval(10)
        while server.openConnections > 0 && Date() < end { Thread.sleep(forTimeInterval: 0.02) }
        XCTAssertEqual(server.openConnections, 0, "the server closed the idle connection")
        XCTAssertEqual(try client.request(method: "POST", path: "/2", headers: [], body: Array("b".utf8)).text, "b")
    }

    func testReadsChunkedAndCloseDelimitedResponses() throws {
        let listener = try LoopbackListener()
        let chunkedDone = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            let fd = listener.acceptOne()
            var buf = [UInt8](repeating: 0, count: 4096)
            _ = recv(fd, &buf, buf.count, 0)
            let first = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nT: 1\r\n\r\n"
            _ = send(fd, first, first.utf8.count, Int32(MSG_NOSIGNAL))
            _ = recv(fd, &buf, buf.count, 0)
            let second = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end"
            _ = send(fd, second, second.utf8.count, Int32(MSG_NOSIGNAL))
            close(fd)
            chunkedDone.signal()
        }
        let client = try HTTPClientConnection(host: "127.0.0.1", port: listener.port, timeout: 10)
        let r1 = try client.request(method: "GET", path: "/", headers: [], body: [])
        XCTAssertEqual(r1.status, 200)
        XCTAssertEqual(r1.text, "hello world")
        let r2 = try client.request(method: "GET", path: "/", headers: [], body: [])
        XCTAssertEqual(r2.text, "until the end")
        XCTAssertFalse(client.isOpen)
        XCTAssertEqual(chunkedDone.wait(timeout: .now() + 10), .success)
    }

    func testTimesOutOnASilentServer() throws {
        let listener = try LoopbackListener()
        let client = try HTTPClientConnection(host: "127.0.0.1", port: listener.port, timeout: 0.3)
        XCTAssertThrowsError(try client.request(method: "GET", path: "/", headers: [], body: [])) { error in
            XCTAssertTrue("\(error)".contains("timed out"), "\(error)")
        }
    }

    func testConnectionRefusedIsAnError() throws {
        let listener = try LoopbackListener()
        let port = listener.port
        listener.close()
        XCTAssertThrowsError(try HTTPClientConnection(host: "127.0.0.1", port: port, timeout: 2))
    }
}

/// A plain listening socket on an ephemeral loopback port.
/// (`@unchecked Sendable`: used by one thread at a time: made by the test, then accepted on by its server thread.)
final class LoopbackListener: @unchecked Sendable {
    let fd: Int32
    let port: Int
    private var closed = false

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0, listen(fd, 16) == 0 else { throw TestError("cannot listen") }
        var bound = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        port = Int(UInt16(bigEndian: bound.sin_port))
    }

    func acceptOne() -> Int32 { accept(fd, nil, nil) }

    func close() {
        if !closed { Glibc.close(fd) }
        closed = true
    }

    deinit { close() }
}
