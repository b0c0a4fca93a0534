import L2metCore

extension Destination {
    /// The secrets a log line must never show (a Librato token; OTLP header values and the URL's
    /// query, where some vendors take their key).
    var secrets: [String] {
        switch self {
        case let .librato(_, token, _): return [token]
        case let .otlp(url, headers):
            let query = url.firstIndex(of: "?").map { String(url[url.index(after: $0)...]) }
            return OTLPDestinationOptions(fragment: headers).headers.map(\.1) + (query.map { [$0] } ?? [])
        case .local: return []
        }
    }
}

/// Text for a log line: at most `limit` bytes, with every secret replaced by `[redacted]`. A secret
/// too short to replace safely (under 4 bytes) withholds the whole text instead.
func scrubbed(_ text: String, hiding secrets: [String], limit: Int) -> String {
    if secrets.contains(where: { !$0.isEmpty && $0.utf8.count < 4 }) {
        return "[withheld: the destination has a secret too short to redact]"
    }
    var s = text
    for secret in secrets where !secret.isEmpty {
        s = s.replacingOccurrences(of: secret, with: "[redacted]")
    }
    if s.utf8.count > limit {
        s = String(decoding: s.utf8.prefix(limit), as: UTF8.self) + "…"
    }
    return s
}
