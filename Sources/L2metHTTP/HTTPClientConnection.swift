import Foundation
import Glibc

/// A small blocking HTTP/1.1 client over one keep-alive connection (reconnecting when the server closed
/// it), for tests and tools. Every send and receive is bounded by `timeout`.
public final class HTTPClientConnection {
    public let host: String
    public let port: Int
    public let timeout: Double
    private var fd: Int32 = -1
    private var buffer: [UInt8] = []
    private var start = 0
    /// Requests answered on the current connection.
    private var answered = 0

    /// Connects now; throws when the connection cannot be made within `timeout` seconds.
    public init(host: String, port: Int, timeout: Double) throws {
        self.host = host
        self.port = port
        self.timeout = timeout
        try connect()
    }

    deinit { close() }

    /// Sends one request and reads its response (skipping `1xx` interim answers). `Host` and
    /// `Content-Length` are added unless given.
    public func request(method: String, path: String, headers: [(String, String)] = [], body: [UInt8] = []) throws
        -> HTTPClientResponse {
        do {
            return try send(method: method, path: path, headers: headers, body: body)
        } catch let error as StaleConnection {
            // The server closed a reused keep-alive connection before reading the request: try once more, fresh.
            _ = error
            return try send(method: method, path: path, headers: headers, body: body)
        }
    }

    private struct StaleConnection: Error {}

    private func send(method: String, path: String, headers: [(String, String)], body: [UInt8]) throws -> HTTPClientResponse {
        if fd < 0 { try connect() }
        let reused = answered > 0
        var head = "\(method) \(path) HTTP/1.1\r\n"
        let lowered = headers.map { $0.0.lowercased() }
        if !lowered.contains("host") { head += "Host: \(host):\(port)\r\n" }
        if !lowered.contains("content-length") && !lowered.contains("transfer-encoding")
            && (!body.isEmpty || method == "POST" || method == "PUT") {
            head += "Content-Length: \(body.count)\r\n"
        }
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        do {
            do {
                try sendAll(Array(head.utf8) + body)
            } catch where reused {
                close()
                throw StaleConnection()
            }
            if reused {
                // Nothing at all back from a reused connection: it was closed under us.
                if buffer.count == start, try !fill() {
                    close()
                    throw StaleConnection()
                }
            }
            var response = try readResponse(method: method)
            while (100..<200).contains(response.status) { response = try readResponse(method: method) }
            answered += 1
            if response.header("connection")?.lowercased().contains("close") == true { close() }
            return response
        } catch let error as StaleConnection {
            throw error
        } catch {
            close()
            throw error
        }
    }

    /// Writes raw bytes (for tests that build their own requests).
    public func sendRaw(_ bytes: [UInt8]) throws {
        if fd < 0 { try connect() }
        try sendAll(bytes)
    }

    /// Reads one response after `sendRaw`.
    public func readResponse(method: String = "GET") throws -> HTTPClientResponse {
        let headEnd = try readHead()
        let headBytes = Array(buffer[start..<headEnd])
        start = headEnd
        var lines = String(decoding: headBytes, as: UTF8.self).components(separatedBy: "\r\n")
        guard !lines.isEmpty else { throw HTTPError("malformed response: empty head") }
        let statusParts = lines.removeFirst().split(separator: " ", maxSplits: 2)
        guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/1."), let status = Int(statusParts[1]) else {
            throw HTTPError("malformed response status line")
        }
        var headers: [(name: String, value: String)] = []
        for line in lines where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { throw HTTPError("malformed response header line") }
            headers.append((name: line[..<colon].lowercased(),
                            value: line[line.index(after: colon)...].trimmingCharacters(in: " \t")))
        }
        var response = HTTPClientResponse(status: status, headers: headers, body: [])
        if (100..<200).contains(status) || status == 204 || status == 304 || method == "HEAD" { return response }
        if response.header("transfer-encoding")?.lowercased().contains("chunked") == true {
            response.body = try readChunked()
        } else if let lengthText = response.header("content-length") {
            guard let length = Int(lengthText), length >= 0 else { throw HTTPError("malformed Content-Length") }
            response.body = try readExactly(length)
        } else {
            response.body = try readToEnd()
            close()
        }
        compact()
        return response
    }

    /// Closes the connection (the next request reconnects).
    public func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
        buffer = []
        start = 0
        answered = 0
    }

    /// True while a connection is open.
    public var isOpen: Bool { fd >= 0 }

    // MARK: - Socket

    private func connect() throws {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, "\(port)", &hints, &result)
        guard rc == 0, let first = result else {
            throw HTTPError("cannot resolve \(host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(result) }
        var lastError = "no address"
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        while let ai = candidate {
            candidate = ai.pointee.ai_next
            let s = socket(ai.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | LinuxSystemCalls.SOCK_CLOEXEC, 0)
            if s < 0 { lastError = errnoText(); continue }
            // Non-blocking connect bounded by the timeout, then blocking I/O with SO_RCVTIMEO/SO_SNDTIMEO.
            let flags = fcntl(s, F_GETFL)
            _ = fcntl(s, F_SETFL, flags | O_NONBLOCK)
            var r = Glibc.connect(s, ai.pointee.ai_addr, ai.pointee.ai_addrlen)
            if r != 0 && errno == EINPROGRESS {
                var p = pollfd(fd: s, events: Int16(POLLOUT), revents: 0)
                let waited = poll(&p, 1, Int32(max(1, timeout * 1000)))
                if waited == 1 {
                    var err: Int32 = 0
                    var len = socklen_t(MemoryLayout<Int32>.size)
                    getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len)
                    if err == 0 { r = 0 } else { errno = err }
                } else if waited == 0 {
                    errno = ETIMEDOUT
                }
            }
            if r != 0 {
                lastError = errnoText()
                Glibc.close(s)
                continue
            }
            _ = fcntl(s, F_SETFL, flags & ~O_NONBLOCK)
            var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1_000_000))
            if tv.tv_sec == 0 && tv.tv_usec == 0 { tv.tv_usec = 1000 }
            setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            var one: Int32 = 1
            setsockopt(s, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            fd = s
            buffer = []
            start = 0
            return
        }
        throw HTTPError("cannot connect to \(host):\(port): \(lastError)")
    }

    private func sendAll(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { p in
            var sent = 0
            while sent < p.count {
                let n = Glibc.send(fd, p.baseAddress! + sent, p.count - sent, Int32(MSG_NOSIGNAL))
                if n > 0 { sent += n; continue }
                if n < 0 && errno == EINTR { continue }
                if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { throw HTTPError("send timed out") }
                throw HTTPError("send failed: \(errnoText())")
            }
        }
    }

    /// Reads more bytes into the buffer; false on EOF.
    private func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                buffer.append(contentsOf: chunk[0..<n])
                return true
            }
            if n == 0 { return false }
            if errno == EINTR { continue }
            if errno == ECONNRESET { return false }
            if errno == EAGAIN || errno == EWOULDBLOCK { throw HTTPError("timed out waiting for the response") }
            throw HTTPError("receive failed: \(errnoText())")
        }
    }

    private func compact() {
        if start > 0 {
            buffer.removeFirst(start)
            start = 0
        }
    }

    /// Index just after the head's CRLFCRLF.
    private func readHead() throws -> Int {
        var scanned = start
        while true {
            var i = max(start, scanned - 3)
            while i + 3 < buffer.count {
                if buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 { return i + 4 }
                i += 1
            }
            scanned = buffer.count
            if buffer.count - start > 1 << 20 { throw HTTPError("response head too large") }
            guard try fill() else { throw HTTPError("connection closed before a response arrived") }
        }
    }

    private func readExactly(_ n: Int) throws -> [UInt8] {
        while buffer.count - start < n {
            guard try fill() else { throw HTTPError("connection closed in the middle of the response body") }
        }
        let out = Array(buffer[start..<(start + n)])
        start += n
        return out
    }

    private func readLine() throws -> String {
        while true {
            if let lf = buffer[start...].firstIndex(of: 10) {
                var end = lf
                if end > start && buffer[end - 1] == 13 { end -= 1 }
                let line = String(decoding: buffer[start..<end], as: UTF8.self)
                start = lf + 1
                return line
            }
            guard try fill() else { throw HTTPError("connection closed in the middle of a chunked response") }
        }
    }

    private func readChunked() throws -> [UInt8] {
        var body: [UInt8] = []
        while true {
            let line = try readLine()
            let sizeText = line.split(separator: ";", maxSplits: 1).first.map { $0.trimmingCharacters(in: " \t") } ?? ""
            guard let size = Int(sizeText, radix: 16), size >= 0 else { throw HTTPError("malformed chunk size in response") }
            if size == 0 {
                while try !readLine().isEmpty {}
                return body
            }
            body += try readExactly(size)
            _ = try readLine()
        }
    }

    private func readToEnd() throws -> [UInt8] {
        while try fill() {}
        let out = Array(buffer[start...])
        start = buffer.count
        return out
    }
}

extension StringProtocol {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}
