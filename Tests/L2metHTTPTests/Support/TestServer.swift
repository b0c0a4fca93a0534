import Foundation
import L2metHTTP
import XCTest

/// Records what the observer was told.
final class RecordingObserver: HTTPServerObserver, @unchecked Sendable {
    struct Event: Equatable { var method: String, path: String, status: Int, requestBytes: Int }
    private let lock = NSLock()
    private var recorded: [Event] = []

    func requestCompleted(method: String, path: String, status: Int, requestBytes: Int) {
        lock.lock(); defer { lock.unlock() }
        recorded.append(Event(method: method, path: path, status: status, requestBytes: requestBytes))
    }

    var events: [Event] { lock.lock(); defer { lock.unlock() }; return recorded }

    /// Waits (generously) until `count` events were recorded.
    func wait(for count: Int, timeout: Double = 10) -> [Event] {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end && events.count < count { Thread.sleep(forTimeInterval: 0.01) }
        return events
    }
}

/// Records the requests a handler received.
final class RequestLog: @unchecked Sendable {
    private let lock = NSLock()
    private var recorded: [HTTPRequest] = []
    func append(_ r: HTTPRequest) { lock.lock(); recorded.append(r); lock.unlock() }
    var requests: [HTTPRequest] { lock.lock(); defer { lock.unlock() }; return recorded }
}

/// A server on 127.0.0.1, port 0, that echoes: status 200, body = request body, and a few
/// `X-Echo-*` headers with what it parsed.
func echoResponse(_ request: HTTPRequest) -> HTTPResponse {
    HTTPResponse(status: 200, headers: [("X-Echo-Method", request.method), ("X-Echo-Path", request.path),
                                        ("X-Echo-Query", request.query), ("X-Echo-Length", "\(request.body.count)")],
                 body: request.body)
}

func makeServer(workers: Int = 2, configure: (inout HTTPServerConfiguration) -> Void = { _ in },
                observer: HTTPServerObserver? = nil,
                handler: @escaping @Sendable (HTTPRequest) -> HTTPResponse = { echoResponse($0) }) throws -> HTTPServer {
    var c = HTTPServerConfiguration()
    c.host = "127.0.0.1"
    c.port = 0
    c.workers = workers
    configure(&c)
    let server = HTTPServer(configuration: c, observer: observer, handler: handler)
    try server.start()
    return server
}

/// A plain blocking TCP socket for sending exactly the bytes a test wants.
/// (`@unchecked Sendable`: a test hands a socket to one thread at a time, never to two at once.)
final class RawSocket: @unchecked Sendable {
    let fd: Int32

    /// `source`: the local address to connect from (another loopback address, 127.0.0.2 say, is
    /// another peer to the server).
    init(port: Int, timeout: Double = 10, source: String? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if let source {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            local.sin_addr.s_addr = inet_addr(source)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else {
                close(fd)
                throw TestError("bind to \(source) failed: errno \(errno)")
            }
        }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            close(fd)
            throw TestError("connect failed: errno \(errno)")
        }
    }

    deinit { close(fd) }

    /// Sends everything; false when the peer is gone.
    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { p in
            var sent = 0
            while sent < p.count {
                let n = Glibc.send(fd, p.baseAddress! + sent, p.count - sent, Int32(MSG_NOSIGNAL))
                if n <= 0 { return false }
                sent += n
            }
            return true
        }
    }

    @discardableResult
    func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    /// True when a recv would not block (data or EOF waiting).
    func readable() -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, 0) == 1
    }

    func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }

    /// One recv: nil on EOF, reset or timeout.
    func receiveSome() -> [UInt8]? {
        var buf = [UInt8](repeating: 0, count: 65536)
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n > 0 ? Array(buf[0..<n]) : nil
    }

    /// Reads until EOF (or reset, or timeout) and says how it ended.
    func receiveUntilClosed() -> (bytes: [UInt8], closed: Bool) {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { out += buf[0..<n]; continue }
            if n == 0 { return (out, true) }
            if errno == EINTR { continue }
            return (out, errno == ECONNRESET)
        }
    }

    /// Reads until `count` complete responses (Content-Length framed) have arrived.
    func receiveResponses(_ count: Int) -> [ParsedResponse] {
        var data: [UInt8] = []
        while true {
            let parsed = ParsedResponse.parseAll(data)
            if parsed.count >= count { return parsed }
            guard let more = receiveSome() else { return parsed }
            data += more
        }
    }
}

/// A response parsed from raw bytes (Content-Length bodies only).
struct ParsedResponse {
    var status: Int
    var headers: [String: String]
    var body: [UInt8]
    var text: String { String(decoding: body, as: UTF8.self) }

    static func parseAll(_ bytes: [UInt8]) -> [ParsedResponse] {
        var out: [ParsedResponse] = []
        var start = 0
        while let (response, next) = parse(bytes, from: start) {
            out.append(response)
            start = next
        }
        return out
    }

    static func parse(_ bytes: [UInt8], from start: Int) -> (ParsedResponse, Int)? {
        var i = start
        while i + 3 < bytes.count {
            if bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 { break }
            i += 1
        }
        guard i + 3 < bytes.count else { return nil }
        let lines = String(decoding: bytes[start..<i], as: UTF8.self).components(separatedBy: "\r\n")
        let parts = lines[0].split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else { return nil }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let bodyStart = i + 4
        let length = (100..<200).contains(status) ? 0 : Int(headers["content-length"] ?? "0") ?? 0
        guard bytes.count >= bodyStart + length else { return nil }
        return (ParsedResponse(status: status, headers: headers, body: Array(bytes[bodyStart..<(bodyStart + length)])),
                bodyStart + length)
    }
}

struct TestError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Polls `condition` until it holds or `timeout` seconds passed; says whether it held.
func waitUntil(timeout: Double = 10, _ condition: () -> Bool) -> Bool {
    let end = Date().addingTimeInterval(timeout)
    while Date() < end {
        if condition() { return true }
        Thread.sleep(forTimeInterval: 0.005)
    }
    return condition()
}
