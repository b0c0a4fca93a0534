/// One request as the handler sees it: the body fully received and decoded (de-chunked, gunzipped).
public struct HTTPRequest: Sendable {
    /// As sent, e.g. `POST`.
    public var method: String
    /// The request target up to `?` (not percent-decoded), e.g. `/logs`.
    public var path: String
    /// The raw query after `?` (without `#fragment`), `""` when there is none.
    public var query: String
    /// Header fields in arrival order; names lower-cased, values with surrounding blanks trimmed.
    public var headers: [(name: String, value: String)]
    /// The decoded body.
    public var body: [UInt8]

    public init(method: String, path: String, query: String = "", headers: [(name: String, value: String)] = [],
                body: [UInt8] = []) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
    }

    /// The first value of header `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        let lowered = name.lowercased()
        for h in headers where h.name == lowered { return h.value }
        return nil
    }

    /// The first value of query parameter `name`, percent- and `+`-decoded; `""` for a bare `name`.
    public func queryValue(_ name: String) -> String? {
        QueryDecoding.value(of: name, in: query)
    }
}

/// `application/x-www-form-urlencoded` decoding of query strings.
enum QueryDecoding {
    static func value(of name: String, in query: String) -> String? {
        var query = query
        return query.withUTF8 { bytes -> String? in
            var start = 0
            while start <= bytes.count {
                var end = start
                while end < bytes.count && bytes[end] != UInt8(ascii: "&") && bytes[end] != UInt8(ascii: ";") { end += 1 }
                if end > start {
                    var eq = start
                    while eq < end && bytes[eq] != UInt8(ascii: "=") { eq += 1 }
                    let key = decode(UnsafeBufferPointer(rebasing: bytes[start..<eq]))
                    if key == name {
                        if eq == end { return "" }
                        return decode(UnsafeBufferPointer(rebasing: bytes[(eq + 1)..<end]))
                    }
                }
                start = end + 1
            }
            return nil
        }
    }

    /// `%XX` to the byte, `+` to a space; malformed escapes stay as they are; invalid UTF-8 is replaced.
    static func decode(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        var needsWork = false
        for b in bytes where b == UInt8(ascii: "%") || b == UInt8(ascii: "+") { needsWork = true; break }
        if !needsWork { return String(decoding: bytes, as: UTF8.self) }
        var out = [UInt8]()
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "+") {
                out.append(UInt8(ascii: " "))
            } else if b == UInt8(ascii: "%"), i + 2 < bytes.count, let h = hexValue(bytes[i + 1]), let l = hexValue(bytes[i + 2]) {
                out.append(h << 4 | l)
                i += 2
            } else {
                out.append(b)
            }
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
