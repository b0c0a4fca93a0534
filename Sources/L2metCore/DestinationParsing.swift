extension Destination {
    /// Reads the decrypted plaintext of a drain token.
    ///
    /// - `user:token` (no `://`): Librato at the server's default URL. The user may not be empty; the
    ///   token is everything after the first `:` and may not be empty.
    /// - `librato+https://user:token@host/path` (or `librato+http://`): a Librato-compatible endpoint.
    /// - `otlp+https://host[:port][/path][#header=value&…]` (or `otlp+http://`): an OTLP/HTTP JSON receiver
    ///   (the URL is kept as given; `OTLPDestinationOptions.exportURL` adds `/v1/metrics` to a base endpoint).
    public init(plaintext: String) throws {
        if plaintext.isEmpty { throw DestinationError.empty }
        guard let schemeEnd = plaintext.firstRange(of: "://") else {
            guard let colon = plaintext.firstIndex(of: ":") else {
                throw DestinationError.malformed("expected user:token")
            }
            let user = String(plaintext[..<colon])
            let token = String(plaintext[plaintext.index(after: colon)...])
            guard !user.isEmpty, !token.isEmpty else { throw DestinationError.malformed("expected user:token") }
            guard !Self.hasLineBreak(user), !Self.hasLineBreak(token)
            else { throw DestinationError.malformed("credentials may not contain line breaks") }
            self = .librato(user: user, token: token, url: nil)
            return
        }
        let scheme = plaintext[..<schemeEnd.lowerBound].lowercased()
        var rest = String(plaintext[schemeEnd.upperBound...])
        switch scheme {
        case "librato+https", "librato+http":
            let transport = scheme == "librato+https" ? "https" : "http"
            guard let at = rest.lastIndex(of: "@") else {
                throw DestinationError.malformed("librato destination needs user:token@host")
            }
            let userinfo = rest[..<at]
            let hostAndPath = rest[rest.index(after: at)...]
            guard let colon = userinfo.firstIndex(of: ":") else {
                throw DestinationError.malformed("librato destination needs user:token@host")
            }
            let user = Self.percentDecoded(String(userinfo[..<colon]))
            let token = Self.percentDecoded(String(userinfo[userinfo.index(after: colon)...]))
            guard !user.isEmpty, !token.isEmpty else { throw DestinationError.malformed("empty Librato user or token") }
            guard !Self.hasLineBreak(user), !Self.hasLineBreak(token)
            else { throw DestinationError.malformed("credentials may not contain line breaks") }
            guard !hostAndPath.prefix(while: { $0 != "/" }).isEmpty else {
                throw DestinationError.malformed("librato destination has no host")
            }
            self = .librato(user: user, token: token, url: "\(transport)://\(hostAndPath)")
        case "otlp+https", "otlp+http":
            let transport = scheme == "otlp+https" ? "https" : "http"
            var headers: [(String, String)] = []
            if let hash = rest.firstIndex(of: "#") {
                let fragment = rest[rest.index(after: hash)...]
                rest = String(rest[..<hash])
                for pair in fragment.split(separator: "&") where !pair.isEmpty {
                    guard let eq = pair.firstIndex(of: "=") else {
                        throw DestinationError.malformed("otlp header \(pair) has no value")
                    }
                    let name = Self.percentDecoded(String(pair[..<eq]))
                    let value = Self.percentDecoded(String(pair[pair.index(after: eq)...]))
                    guard !name.isEmpty, name.utf8.allSatisfy(Self.isTokenByte),
                          !Self.hasLineBreak(value)
                    else { throw DestinationError.malformed("otlp header name or value is not valid") }
                    headers.append((name, value))
                }
            }
            // The authority ends at the path or, for a base endpoint with a query, at the query.
            let host = rest.prefix { $0 != "/" && $0 != "?" }
            // Bytes: "@" followed by a combining mark is one Character, which `contains("@")` misses.
            guard !host.isEmpty, !host.utf8.contains(UInt8(ascii: "@")) else {
                throw DestinationError.malformed("otlp destination has no host")
            }
            self = .otlp(url: "\(transport)://\(rest)", headers: headers)
        default:
            throw DestinationError.unknownScheme(String(scheme))
        }
    }

    /// The plaintext this destination is read from (the inverse of `init(plaintext:)` for Librato
    /// and OTLP destinations).
    public var plaintext: String {
        switch self {
        case let .librato(user, token, nil): return "\(user):\(token)"
        case let .librato(user, token, url?):
            let (scheme, rest) = Self.splitScheme(url)
            return "librato+\(scheme)://\(Self.percentEncoded(user)):\(Self.percentEncoded(token))@\(rest)"
        case let .otlp(url, headers):
            let (scheme, rest) = Self.splitScheme(url)
            let fragment = headers.isEmpty ? "" :
                "#" + headers.map { "\(Self.percentEncoded($0.0))=\(Self.percentEncoded($0.1))" }.joined(separator: "&")
            return "otlp+\(scheme)://\(rest)\(fragment)"
        case .local: return ""
        }
    }

    /// The Librato user or the OTLP endpoint without its query: what a log line may name (never a
    /// token, an API-key header, or a key passed as `?api-key=…`).
    public var loggableName: String {
        switch self {
        case let .librato(user, _, _): return user
        case let .otlp(url, _): return String(url.prefix { $0 != "?" })
        case .local: return "local"
        }
    }

    private static func splitScheme(_ url: String) -> (String, String) {
        guard let r = url.firstRange(of: "://") else { return ("https", url) }
        return (String(url[..<r.lowerBound]), String(url[r.upperBound...]))
    }

    /// A CR or LF byte anywhere (a `Character` test misses CR LF, which Swift reads as one character).
    private static func hasLineBreak(_ s: String) -> Bool {
        s.utf8.contains { $0 == 0x0A || $0 == 0x0D }
    }

    private static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."):
            return true
        default: return false
        }
    }

    /// Decodes `%XX` escapes; a malformed escape is kept as it is.
    public static func percentDecoded(_ s: String) -> String {
        guard s.utf8.contains(UInt8(ascii: "%")) else { return s }
        var out: [UInt8] = []
        let bytes = Array(s.utf8)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "%"), i + 2 < bytes.count, let h = hex(bytes[i + 1]), let l = hex(bytes[i + 2]) {
                out.append(h << 4 | l)
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Escapes what may not stand bare in userinfo or a fragment.
    static func percentEncoded(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            if isTokenByte(b) || b == UInt8(ascii: "~") {
                out.unicodeScalars.append(Unicode.Scalar(b))
            } else {
                let digits = Array("0123456789ABCDEF".utf8)
                out += "%"
                out.unicodeScalars.append(Unicode.Scalar(digits[Int(b >> 4)]))
                out.unicodeScalars.append(Unicode.Scalar(digits[Int(b & 15)]))
            }
        }
        return out
    }

    private static func hex(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
