/// What a handler answers. The server adds `Content-Length`, `Date` and, when it closes the
/// connection, `Connection: close`.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A `text/plain; charset=utf-8` response; a trailing newline is added when missing.
    public static func text(_ status: Int, _ text: String) -> HTTPResponse {
        var body = Array(text.utf8)
        if body.last != UInt8(ascii: "\n") { body.append(UInt8(ascii: "\n")) }
        return HTTPResponse(status: status, headers: [("Content-Type", "text/plain; charset=utf-8")], body: body)
    }

    /// The standard reason phrase for `status` (`""` for unknown codes).
    public static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 100: return "Continue"
        case 200: return "OK"
        case 201: return "Created"
        case 202: return "Accepted"
        case 204: return "No Content"
        case 301: return "Moved Permanently"
        case 302: return "Found"
        case 304: return "Not Modified"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 409: return "Conflict"
        case 411: return "Length Required"
        case 413: return "Content Too Large"
        case 414: return "URI Too Long"
        case 415: return "Unsupported Media Type"
        case 417: return "Expectation Failed"
        case 422: return "Unprocessable Content"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        case 505: return "HTTP Version Not Supported"
        default: return ""
        }
    }

    /// Writes the status line, headers and (unless `omitBody`, for HEAD) the body.
    func serialize(into out: inout OutputWriter, close: Bool, keepAliveHeader: Bool, date: UnsafeRawBufferPointer?,
                   omitBody: Bool) {
        let status = (100...999).contains(self.status) ? self.status : 500
        out.append("HTTP/1.1 ")
        out.appendDecimal(status)
        out.append(" ")
        out.append(HTTPResponse.reasonPhrase(status))
        out.append("\r\n")
        for (name, value) in headers {
            if equalsIgnoringCase(name, "content-length") || equalsIgnoringCase(name, "transfer-encoding")
                || equalsIgnoringCase(name, "connection") { continue }
            out.append(sanitized(name))
            out.append(": ")
            out.append(sanitized(value))
            out.append("\r\n")
        }
        if let date {
            out.append("Date: ")
            out.append(date)
            out.append("\r\n")
        }
        let bodyAllowed = status >= 200 && status != 204 && status != 304
        if bodyAllowed {
            out.append("Content-Length: ")
            out.appendDecimal(body.count)
            out.append("\r\n")
        }
        if close {
            out.append("Connection: close\r\n")
        } else if keepAliveHeader {
            out.append("Connection: keep-alive\r\n")
        }
        out.append("\r\n")
        if bodyAllowed && !omitBody { out.append(body) }
    }
}

/// ASCII case-insensitive comparison with a lower-case literal.
@inline(__always)
func equalsIgnoringCase(_ s: String, _ lower: StaticString) -> Bool {
    var s = s
    return s.withUTF8 { a in
        guard a.count == lower.utf8CodeUnitCount else { return false }
        let b = lower.utf8Start
        for i in 0..<a.count {
            var c = a[i]
            if c >= 65 && c <= 90 { c |= 0x20 }
            if c != b[i] { return false }
        }
        return true
    }
}

/// A header name or value with CR and LF removed, so a handler can never split the response.
@inline(__always)
private func sanitized(_ s: String) -> String {
    var s = s
    let clean = s.withUTF8 { p in !p.contains(13) && !p.contains(10) }
    return clean ? s : String(s.unicodeScalars.filter { $0 != "\r" && $0 != "\n" })
}
