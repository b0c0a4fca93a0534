import Glibc

/// The parsed request line and headers, with the framing facts the connection needs.
struct RequestHead {
    var method = ""
    var path = ""
    var query = ""
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    var minorVersion = 1
    var headers: [(name: String, value: String)] = []
    var contentLength: Int?
    var chunked = false
    var gzip = false
    /// The `Connection` header asked for `close` (or, in HTTP/1.0, did not ask for `keep-alive`).
    var wantsClose = false
    var sawKeepAlive = false
    var expectContinue = false
}

/// Why a request was refused before the handler saw it: the status and a short text for the body.
struct RequestRejection: Error, Equatable {
    let status: Int
    let message: String
    init(_ status: Int, _ message: String) {
        self.status = status
        self.message = message
    }
}

/// Parses a complete request head (request line, header lines, empty line) from bytes.
enum RequestHeadParser {
    static let cr: UInt8 = 13
    static let lf: UInt8 = 10
    static let sp: UInt8 = 32
    static let ht: UInt8 = 9

    /// Where the head ends (index after the empty line's LF), scanning from `from`. `lineStart` carries the
    /// start of the current line across calls. Returns nil when the empty line has not arrived yet.
    @inline(__always)
    static func findEnd(_ bytes: UnsafeRawBufferPointer, from: Int, lineStart: inout Int) -> Int? {
        var i = from
        let n = bytes.count
        while i < n {
            // memchr for the next LF.
            guard let found = memchrLF(bytes, i) else { return nil }
            let len = found - lineStart
            if lineStart > 0 && (len == 0 || (len == 1 && bytes[lineStart] == cr)) {
                return found + 1
            }
            lineStart = found + 1
            i = found + 1
        }
        return nil
    }

    @inline(__always)
    static func memchrLF(_ bytes: UnsafeRawBufferPointer, _ from: Int) -> Int? {
        guard from < bytes.count, let base = bytes.baseAddress else { return nil }
        guard let p = memchr(base + from, Int32(lf), bytes.count - from) else { return nil }
        return base.distance(to: UnsafeRawPointer(p))
    }

    /// tchar per RFC 9110.
    static let tokenTable: [Bool] = {
        var t = [Bool](repeating: false, count: 256)
        for c in UInt8(ascii: "0")...UInt8(ascii: "9") { t[Int(c)] = true }
        for c in UInt8(ascii: "a")...UInt8(ascii: "z") { t[Int(c)] = true }
        for c in UInt8(ascii: "A")...UInt8(ascii: "Z") { t[Int(c)] = true }
        for c in "!#$%&'*+-.^_`|~".utf8 { t[Int(c)] = true }
        return t
    }()

    static func parse(_ head: UnsafeRawBufferPointer) -> Result<RequestHead, RequestRejection> {
        var result = RequestHead()
        let n = head.count
        // Request line.
        guard let firstLF = memchrLF(head, 0) else { return .failure(RequestRejection(400, "malformed request line")) }
        var lineEnd = firstLF
        if lineEnd > 0 && head[lineEnd - 1] == cr { lineEnd -= 1 }
        let isToken = tokenTable
        var i = 0
        while i < lineEnd && isToken[Int(head[i])] { i += 1 }
        guard i > 0, i < lineEnd, head[i] == sp else { return .failure(RequestRejection(400, "malformed request line")) }
        result.method = String(decoding: UnsafeRawBufferPointer(rebasing: head[0..<i]), as: UTF8.self)
        let targetStart = i + 1
        var j = targetStart
        var queryMark = -1
        var fragmentMark = -1
        while j < lineEnd {
            let c = head[j]
            if c == sp { break }
            if c < 0x21 || c == 0x7F { return .failure(RequestRejection(400, "malformed request target")) }
            if c == UInt8(ascii: "?") && queryMark < 0 && fragmentMark < 0 { queryMark = j }
            if c == UInt8(ascii: "#") && fragmentMark < 0 { fragmentMark = j }
            j += 1
        }
        guard j > targetStart, j < lineEnd, head[j] == sp else { return .failure(RequestRejection(400, "malformed request line")) }
        let targetEnd = j
        let version = UnsafeRawBufferPointer(rebasing: head[(j + 1)..<lineEnd])
        guard version.count == 8, version[0] == UInt8(ascii: "H"), version[1] == UInt8(ascii: "T"),
              version[2] == UInt8(ascii: "T"), version[3] == UInt8(ascii: "P"), version[4] == UInt8(ascii: "/"),
              version[6] == UInt8(ascii: "."), (48...57).contains(version[5]), (48...57).contains(version[7])
        else { return .failure(RequestRejection(400, "malformed HTTP version")) }
        guard version[5] == UInt8(ascii: "1") else { return .failure(RequestRejection(505, "only HTTP/1.x is supported")) }
        result.minorVersion = version[7] == UInt8(ascii: "0") ? 0 : 1

        // Path and query; absolute-form targets lose their scheme and authority.
        var pathStart = targetStart
        let pathEnd = queryMark >= 0 ? queryMark : (fragmentMark >= 0 ? fragmentMark : targetEnd)
        if head[targetStart] != UInt8(ascii: "/") && head[targetStart] != UInt8(ascii: "*") {
            // scheme://authority/path
            var k = targetStart
            var found = false
            while k + 2 < targetEnd {
                if head[k] == UInt8(ascii: ":") && head[k + 1] == UInt8(ascii: "/") && head[k + 2] == UInt8(ascii: "/") {
                    found = true
                    break
                }
                k += 1
            }
            guard found else { return .failure(RequestRejection(400, "malformed request target")) }
            k += 3
            while k < pathEnd && head[k] != UInt8(ascii: "/") { k += 1 }
            pathStart = k
        }
        result.path = pathStart < pathEnd
            ? String(decoding: UnsafeRawBufferPointer(rebasing: head[pathStart..<pathEnd]), as: UTF8.self) : "/"
        if queryMark >= 0 {
            let qEnd = fragmentMark >= 0 ? fragmentMark : targetEnd
            result.query = String(decoding: UnsafeRawBufferPointer(rebasing: head[(queryMark + 1)..<qEnd]), as: UTF8.self)
        }

        // Header lines.
        var lineStart = firstLF + 1
        var sawTransferEncoding = false
        var contentEncodingSeen = false
        result.headers.reserveCapacity(8)
        while lineStart < n {
            guard let lf = memchrLF(head, lineStart) else { break }
            var end = lf
            if end > lineStart && head[end - 1] == cr { end -= 1 }
            if end == lineStart { break }  // the empty line
            let first = head[lineStart]
            if first == sp || first == ht { return .failure(RequestRejection(400, "folded header lines are not accepted")) }
            var colon = lineStart
            while colon < end && isToken[Int(head[colon])] { colon += 1 }
            guard colon > lineStart, colon < end, head[colon] == UInt8(ascii: ":") else {
                return .failure(RequestRejection(400, "malformed header line"))
            }
            var vStart = colon + 1
            while vStart < end && (head[vStart] == sp || head[vStart] == ht) { vStart += 1 }
            var vEnd = end
            while vEnd > vStart && (head[vEnd - 1] == sp || head[vEnd - 1] == ht) { vEnd -= 1 }
            var k = vStart
            while k < vEnd {
                let c = head[k]
                if (c < 0x20 && c != ht) || c == 0x7F { return .failure(RequestRejection(400, "invalid character in a header value")) }
                k += 1
            }
            let nameLength = colon - lineStart
            let name = String(unsafeUninitializedCapacity: nameLength) { out in
                for x in 0..<nameLength {
                    var c = head[lineStart + x]
                    if c >= 65 && c <= 90 { c |= 0x20 }
                    out[x] = c
                }
                return nameLength
            }
            let valueBytes = UnsafeRawBufferPointer(rebasing: head[vStart..<vEnd])
            let value = String(decoding: valueBytes, as: UTF8.self)
            switch nameLength {
            case 14 where name == "content-length":
                guard let length = parseDecimal(valueBytes) else {
                    return .failure(RequestRejection(400, "malformed Content-Length"))
                }
                if let previous = result.contentLength, previous != length {
                    return .failure(RequestRejection(400, "conflicting Content-Length headers"))
                }
                result.contentLength = length
            case 17 where name == "transfer-encoding":
                if sawTransferEncoding || !tokenEquals(valueBytes, "chunked") {
                    return .failure(RequestRejection(501, "only Transfer-Encoding: chunked is supported"))
                }
                sawTransferEncoding = true
                result.chunked = true
            case 16 where name == "content-encoding":
                if contentEncodingSeen { return .failure(RequestRejection(415, "one Content-Encoding at most")) }
                contentEncodingSeen = true
                if tokenEquals(valueBytes, "gzip") || tokenEquals(valueBytes, "x-gzip") {
                    result.gzip = true
                } else if !tokenEquals(valueBytes, "identity") {
                    return .failure(RequestRejection(415, "unsupported Content-Encoding: use gzip or none"))
                }
            case 10 where name == "connection":
                forEachToken(valueBytes) { token in
                    if tokenEquals(token, "close") { result.wantsClose = true }
                    if tokenEquals(token, "keep-alive") { result.sawKeepAlive = true }
                }
            case 6 where name == "expect":
                guard tokenEquals(valueBytes, "100-continue") else {
                    return .failure(RequestRejection(417, "only Expect: 100-continue is supported"))
                }
                result.expectContinue = true
            default:
                break
            }
            result.headers.append((name: name, value: value))
            lineStart = lf + 1
        }
        if result.chunked && result.contentLength != nil {
            return .failure(RequestRejection(400, "both Content-Length and Transfer-Encoding"))
        }
        if result.minorVersion == 0 {
            // An HTTP/1.0 message with Transfer-Encoding has doubtful framing: close after it (RFC 9112 6.1).
            if !result.sawKeepAlive || result.chunked { result.wantsClose = true }
            if result.expectContinue { result.expectContinue = false }
        }
        return .success(result)
    }

    /// 1 to 18 ASCII digits, nothing else.
    static func parseDecimal(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard bytes.count > 0, bytes.count <= 18 else { return nil }
        var v = 0
        for c in bytes {
            guard c >= 48 && c <= 57 else { return nil }
            v = v * 10 + Int(c - 48)
        }
        return v
    }

    /// Case-insensitive equality with a lower-case literal.
    static func tokenEquals(_ bytes: UnsafeRawBufferPointer, _ lower: StaticString) -> Bool {
        guard bytes.count == lower.utf8CodeUnitCount else { return false }
        let b = lower.utf8Start
        for i in 0..<bytes.count {
            var c = bytes[i]
            if c >= 65 && c <= 90 { c |= 0x20 }
            if c != b[i] { return false }
        }
        return true
    }

    /// Comma-separated tokens, blanks trimmed.
    static func forEachToken(_ bytes: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Void) {
        var start = 0
        while start <= bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != UInt8(ascii: ",") { end += 1 }
            var s = start, e = end
            while s < e && (bytes[s] == sp || bytes[s] == ht) { s += 1 }
            while e > s && (bytes[e - 1] == sp || bytes[e - 1] == ht) { e -= 1 }
            if e > s { body(UnsafeRawBufferPointer(rebasing: bytes[s..<e])) }
            start = end + 1
        }
    }
}
