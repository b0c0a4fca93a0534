/// A parsed `redis://[[user]:password@]host[:port][/db]` or `rediss://…` (TLS) URL.
///
/// `rediss://` goes through `RedisTLSTunnel` (hiredis 0.14 has no TLS of its own). The server
/// certificate is not verified unless the URL says `?ssl_cert_reqs=required` (Heroku's Redis uses
/// self-signed certificates). `description` never shows the password.
public struct RedisURL: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    /// Redis 6 ACL user (`AUTH user password`); nil sends `AUTH password`.
    public var user: String?
    public var password: String?
    public var database: Int
    /// `rediss://`: the connection is TLS (1.2 or later).
    public var tls: Bool
    /// `?ssl_cert_reqs=required`: verify the server's certificate chain against the system CA store
    /// and its name against `host`. Off by default (`none`), as Heroku tells clients to do.
    public var verifyCertificate: Bool

    public init(host: String = "127.0.0.1", port: Int = 6379, user: String? = nil, password: String? = nil,
                database: Int = 0, tls: Bool = false, verifyCertificate: Bool = false) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.tls = tls
        self.verifyCertificate = verifyCertificate
    }

    /// Parses `text`; throws `RedisURLError` (whose text never contains the password).
    public init(parsing text: String) throws {
        guard let schemeEnd = text.range(of: "://") else { throw RedisURLError.notAURL }
        let scheme = text[..<schemeEnd.lowerBound].lowercased()
        let tls: Bool
        switch scheme {
        case "redis": tls = false
        case "rediss": tls = true
        default: throw RedisURLError.unsupportedScheme(String(scheme))
        }
        var rest = Substring(text[schemeEnd.upperBound...])
        var query: Substring = ""
        if let fragment = rest.firstIndex(of: "#") { rest = rest[..<fragment] }
        // The query starts at the first "?" after the last "@" (a password may contain "?").
        let queryFrom = rest.lastIndex(of: "@") ?? rest.startIndex
        if let q = rest[queryFrom...].firstIndex(of: "?") {
            query = rest[rest.index(after: q)...]
            rest = rest[..<q]
        }
        var path: Substring = ""
        // The authority ends at the first "/" after the last "@" (a password may contain "/").
        let authorityStart = rest.lastIndex(of: "@").map { rest.index(after: $0) } ?? rest.startIndex
        if let slash = rest[authorityStart...].firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        var hostPort = rest
        self.init(tls: tls)
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts[0].lowercased() == "ssl_cert_reqs" else { continue }  // other options: ignored
            let value = parts.count > 1 ? parts[1].lowercased() : ""
            switch value {
            case "none", "cert_none": verifyCertificate = false
            case "required", "cert_required": verifyCertificate = true
            default: throw RedisURLError.badCertificateRequirement(String(value))
            }
        }
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            hostPort = rest[rest.index(after: at)...]
            if let colon = userInfo.firstIndex(of: ":") {
                let user = try Self.percentDecoded(userInfo[..<colon], field: "user")
                self.user = user.isEmpty ? nil : user
                self.password = try Self.percentDecoded(userInfo[userInfo.index(after: colon)...], field: "password")
            } else if !userInfo.isEmpty {
                // `redis://secret@host`: a lone user-info part is the password, as most clients read it.
                self.password = try Self.percentDecoded(userInfo, field: "password")
            }
        }
        var hostText: Substring
        var portText: Substring?
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else { throw RedisURLError.badHost }
            hostText = hostPort[hostPort.index(after: hostPort.startIndex)..<close]
            let after = hostPort[hostPort.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw RedisURLError.badHost }
                portText = after.dropFirst()
            }
        } else if let colon = hostPort.lastIndex(of: ":") {
            hostText = hostPort[..<colon]
            portText = hostPort[hostPort.index(after: colon)...]
        } else {
            hostText = hostPort
        }
        if !hostText.isEmpty {
            guard hostText.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_" || $0 == ":" })
            else { throw RedisURLError.badHost }
            host = String(hostText)
        }
        if let portText {
            guard let p = Int(portText), (1...65535).contains(p) else { throw RedisURLError.badPort(String(portText)) }
            port = p
        }
        if !path.isEmpty {
            guard let db = Int(path), db >= 0 else { throw RedisURLError.badDatabase(String(path)) }
            database = db
        }
    }

    public var description: String {
        var auth = ""
        if user != nil || password != nil { auth = "\(user ?? ""):***@" }
        let h = host.contains(":") ? "[\(host)]" : host
        let options = tls && verifyCertificate ? "?ssl_cert_reqs=required" : ""
        return "\(tls ? "rediss" : "redis")://\(auth)\(h):\(port)/\(database)\(options)"
    }

    private static func percentDecoded(_ s: Substring, field: String) throws -> String {
        guard s.contains("%") else { return String(s) }
        var out: [UInt8] = []
        var bytes = Array(s.utf8)[...]
        while let b = bytes.popFirst() {
            if b == UInt8(ascii: "%") {
                guard bytes.count >= 2, let hi = hexValue(bytes.popFirst()!), let lo = hexValue(bytes.popFirst()!) else {
                    throw RedisURLError.badPercentEncoding(field)
                }
                out.append(hi << 4 | lo)
            } else {
                out.append(b)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// Why a Redis URL was refused. The text names the part at fault, never the password.
public enum RedisURLError: Error, Equatable, CustomStringConvertible {
    case notAURL
    case unsupportedScheme(String)
    case badCertificateRequirement(String)
    case badHost
    case badPort(String)
    case badDatabase(String)
    case badPercentEncoding(String)

    public var description: String {
        switch self {
        case .notAURL: return "Redis URL must look like redis://[:password@]host:port[/db] (or rediss:// for TLS)"
        case .unsupportedScheme(let s): return "Redis URL scheme \"\(s)\" is not supported; use redis:// or rediss://"
        case .badCertificateRequirement(let v):
            return "Redis URL ssl_cert_reqs \"\(v)\" is not understood; use none (the default) or required"
        case .badHost: return "Redis URL has a malformed host"
        case .badPort(let p): return "Redis URL port \"\(p)\" is not a number in 1...65535"
        case .badDatabase(let d): return "Redis URL database \"\(d)\" is not a number >= 0"
        case .badPercentEncoding(let field): return "Redis URL \(field) has a malformed %-escape"
        }
    }
}
