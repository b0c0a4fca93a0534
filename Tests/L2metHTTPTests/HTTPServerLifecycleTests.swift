import Foundation
import L2metHTTP
import XCTest

/// start/stop, the bound port, and the observer.
final class HTTPServerLifecycleTests: XCTestCase {
    func testStopFinishesTheRequestInFlightAndClosesIdleConnections() throws {
        let entered = DispatchSemaphore(value: 0)
        let server = try makeServer(handler: { request in
            if request.path == "/slow" {
                entered.signal()
                Thread.sleep(forTimeInterval: 0.5)
            }
            return echoResponse(request)
        })
        let port = server.boundPort
        let idle = try RawSocket(port: port, timeout: 20)
        idle.send("GET /warm HTTP/1.1\r\n\r\n")
        XCTAssertEqual(idle.receiveResponses(1).first?.status, 200)

        final class Box: @unchecked Sendable { var response: HTTPClientResponse?; var error: Error? }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            do {
                let client = try HTTPClientConnection(host: "127.0.0.1", port: port, timeout: 20)
                box.response = try client.request(method: "POST", path: "/slow", headers: [], body: Array("in flight".utf8))
            } catch {
                box.error = error
            }
            done.signal()
        }
        XCTAssertEqual(entered.wait(timeout: .now() + 10), .success)
        let began = Date()
        server.stop(gracePeriod: 5)
        XCTAssertLessThan(Date().timeIntervalSince(began), 6, "stop returns within the grace period")
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
        XCTAssertNil(box.error)
        XCTAssertEqual(box.response?.status, 200)
        XCTAssertEqual(box.response?.text, "in flight")
        XCTAssertEqual(box.response?.header("connection"), "close")

        let (bytes, closed) = idle.receiveUntilClosed()
        XCTAssertEqual(bytes, [])
        XCTAssertTrue(closed, "the idle keep-alive connection was closed")
        XCTAssertThrowsError(try HTTPClientConnection(host: "127.0.0.1", port: port, timeout: 2), "no longer listening")
        server.stop(gracePeriod: 1)  // a second stop does nothing
    }

    func testStopGivesUpOnAStuckClientAtTheGracePeriod() throws {
        let server = try makeServer()
        let socket = try RawSocket(port: server.boundPort, timeout: 20)
        socket.send("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")  // never completed
        Thread.sleep(forTimeInterval: 0.1)
        let began = Date()
        server.stop(gracePeriod: 0.5)
        XCTAssertLessThan(Date().timeIntervalSince(began), 3)
        let (_, closed) = socket.receiveUntilClosed()
        XCTAssertTrue(closed)
    }

    func testStopBeforeStartAndStartTwice() throws {
        let unstarted = HTTPServer(configuration: HTTPServerConfiguration()) { _ in HTTPResponse(status: 200) }
        unstarted.stop(gracePeriod: 1)
        let server = try makeServer()
        XCTAssertThrowsError(try server.start())
        server.stop(gracePeriod: 1)
    }

    func testPortInUseIsAClearError() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        listen(listener, 1)
        var bound = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &len) } }
        var c = HTTPServerConfiguration()
        c.port = Int(UInt16(bigEndian: bound.sin_port))
        let server = HTTPServer(configuration: c) { _ in HTTPResponse(status: 200) }
        XCTAssertThrowsError(try server.start()) { error in
            XCTAssertTrue("\(error)".contains("bind"), "\(error)")
        }
    }

    /// Another server on the port, itself with SO_REUSEPORT (a second l2met started by mistake), is no
    /// reason to share it: start-up fails. Once the first one has stopped, the port is free again even
    /// with its closed connections still in TIME_WAIT.
    func testAPortAnotherServerListensOnIsRefused() throws {
        let first = try makeServer()
        let port = first.boundPort
        let client = try HTTPClientConnection(host: "127.0.0.1", port: port, timeout: 10)
        // The server closes first, so the server's side of this connection is what waits in TIME_WAIT.
        XCTAssertEqual(try client.request(method: "GET", path: "/x", headers: [("Connection", "close")], body: []).status, 200)
        Thread.sleep(forTimeInterval: 0.1)
        client.close()

        let second = try? makeServer(configure: { $0.port = port }, handler: { _ in HTTPResponse(status: 418) })
        XCTAssertNil(second, "a second server shared port \(port)")
        second?.stop(gracePeriod: 0)

        first.stop(gracePeriod: 1)
        let again = try makeServer(configure: { $0.port = port })
        defer { again.stop(gracePeriod: 1) }
        XCTAssertEqual(again.boundPort, port)
    }

    func testObserverIsToldOncePerAnsweredRequest() throws {
        let observer = RecordingObserver()
        let server = try makeServer(observer: observer) { request in
            request.path == "/missing" ? .text(404, "not found") : HTTPResponse(status: 200)
        }
        defer { server.stop(gracePeriod: 1) }
        let client = try HTTPClientConnection(host: "127.0.0.1", port: server.boundPort, timeout: 10)
        _ = try client.request(method: "POST", path: "/logs?x=1", headers: [], body: Array("12345".utf8))
        _ = try client.request(method: "GET", path: "/missing", headers: [], body: [])
        let gz = gzip(Array(String(repeating: "z", count: 1000).utf8))
        _ = try client.request(method: "POST", path: "/gz", headers: [("Content-Encoding", "gzip")], body: gz)
        let chunkedBody = Array("5\r\nhello\r\n0\r\n\r\n".utf8)
        _ = try client.request(method: "POST", path: "/chunked", headers: [("Transfer-Encoding", "chunked")], body: chunkedBody)
        let bad = try RawSocket(port: server.boundPort)
        bad.send("NOT HTTP\r\n\r\n")
        _ = bad.receiveUntilClosed()
        let events = observer.wait(for: 5)
        XCTAssertEqual(events, [
            .init(method: "POST", path: "/logs", status: 200, requestBytes: 5),
            .init(method: "GET", path: "/missing", status: 404, requestBytes: 0),
            .init(method: "POST", path: "/gz", status: 200, requestBytes: gz.count),
            .init(method: "POST", path: "/chunked", status: 200, requestBytes: chunkedBody.count),
            .init(method: "", path: "", status: 400, requestBytes: 0),
        ])
    }
}
