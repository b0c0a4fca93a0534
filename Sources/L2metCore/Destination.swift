/// Where a drain's metrics go, read from the decrypted plaintext of its drain token.
///
/// - `user:token`: Librato at the server's `--librato-url` (l2met compatible).
/// - `librato+https://user:token@host/path`: any Librato-compatible endpoint.
/// - `otlp+https://host[:port][/path][#header=value&…]` (or `otlp+http://`): an OTLP/HTTP JSON receiver;
///   with no path (or `/`), requests go to `/v1/metrics` (see `OTLPDestinationOptions`).
public enum Destination: Sendable, Equatable {
    /// Librato; `url` nil means the server's default `--librato-url`.
    case librato(user: String, token: String, url: String?)
    /// An OpenTelemetry collector or vendor, OTLP/HTTP with JSON bodies.
    case otlp(url: String, headers: [(String, String)])
    /// Local mode: the local sink prints gauges as logfmt lines.
    case local

    public static func == (a: Destination, b: Destination) -> Bool {
        switch (a, b) {
        case let (.librato(u1, t1, l1), .librato(u2, t2, l2)): return u1 == u2 && t1 == t2 && l1 == l2
        case let (.otlp(u1, h1), .otlp(u2, h2)):
            return u1 == u2 && h1.count == h2.count && zip(h1, h2).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        case (.local, .local): return true
        default: return false
        }
    }
}

/// Why a plaintext is not a destination.
public enum DestinationError: Error, Equatable, CustomStringConvertible {
    case empty
    case unknownScheme(String)
    case malformed(String)

    public var description: String {
        switch self {
        case .empty: return "empty credentials"
        case .unknownScheme(let s): return "unknown destination scheme \(s)"
        case .malformed(let why): return "malformed destination: \(why)"
        }
    }
}
