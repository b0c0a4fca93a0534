import L2metCore
import L2metStore

/// One request a sink will send for one destination: its bytes are fixed when it is built, so every
/// retry sends exactly the same body.
public struct SinkRequest: Sendable {
    public var url: String
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// The buckets the request delivers (acknowledged once it is accepted or refused for good).
    public var keys: [BucketKey]
    /// Gauges (or data points) in the body.
    public var itemCount: Int
    /// The earliest bucket end among `keys`, epoch seconds (for the delay figure).
    public var oldestEnd: Int64

    public init(url: String, headers: [(String, String)], body: [UInt8], keys: [BucketKey], itemCount: Int, oldestEnd: Int64) {
        self.url = url
        self.headers = headers
        self.body = body
        self.keys = keys
        self.itemCount = itemCount
        self.oldestEnd = oldestEnd
    }
}

/// A kind of destination the outlet delivers to (Librato, the local sink; OTLP slots in here too).
///
/// The outlet owns claiming, grouping by destination, retries and acknowledgement; a sink only turns
/// one destination's buckets into requests and sends one request once. Each worker has its own sinks,
/// so a sink need not be thread-safe.
public protocol MetricSink: AnyObject {
    /// The requests that deliver `buckets` (all of one destination). Every bucket's key is in exactly
    /// one request, even a bucket with nothing to send (so it is acknowledged).
    func requests(for buckets: [ClaimedBucket], destination: Destination) -> [SinkRequest]

    /// Sends `request` once, within `timeout` seconds.
    func send(_ request: SinkRequest, timeout: Double) -> HTTPPostResult

    /// True when sending goes over the network (time-outs, retries and `requests_total` apply).
    var isRemote: Bool { get }
}

extension MetricSink {
    public var isRemote: Bool { true }
}

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
