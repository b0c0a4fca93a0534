/// How to post to one `otlp+https://…` destination, read from its URL and its `#name=value&…` pairs.
///
/// Invariant: `headers` never holds a reserved key. Every fragment pair is an HTTP header sent with each
/// request, except two reserved keys (any case):
/// - `service.name` sets the `service.name` resource attribute instead (drain bucket keys do not carry
///   the app's name). Without it, `service.name` is `unknown_service:l2met`.
/// - `content-encoding` chooses the request body's encoding: `gzip` (any case) compresses every body
///   and sends `Content-Encoding: gzip`; any other value sends the body as it is, without the header
///   (a header that named an encoding the body does not have would make the body unreadable).
public struct OTLPDestinationOptions: Sendable, Equatable {
    /// The reserved fragment key for the resource's service name.
    public static let serviceNameKey = "service.name"
    /// The reserved fragment key for the request body's encoding.
    public static let contentEncodingKey = "content-encoding"
    /// `service.name` when the destination names none (OpenTelemetry's `unknown_service:` convention).
    public static let defaultServiceName = "unknown_service:l2met"
    /// The path OTLP/HTTP appends to a base endpoint for metrics.
    public static let metricsPath = "/v1/metrics"

    /// Headers to send (names as given, values secret).
    public var headers: [(String, String)]
    /// The `service.name` resource attribute.
    public var serviceName: String
    /// True when request bodies go gzip-compressed, with `Content-Encoding: gzip`.
    public var gzip: Bool

    /// Splits a destination's fragment pairs (`Destination.otlp(url:headers:)`). The last non-empty
    /// `service.name` wins; so does the last `content-encoding`.
    public init(fragment pairs: [(String, String)]) {
        var headers: [(String, String)] = []
        var service: String?
        var gzip = false
        for (name, value) in pairs {
            if Self.equalsIgnoringASCIICase(name, Self.serviceNameKey) {
                if !value.isEmpty { service = value }
            } else if Self.equalsIgnoringASCIICase(name, Self.contentEncodingKey) {
                gzip = Self.equalsIgnoringASCIICase(value, "gzip")
            } else {
                headers.append((name, value))
            }
        }
        self.headers = headers
        self.serviceName = service ?? Self.defaultServiceName
        self.gzip = gzip
    }

    /// Where to post, by the OTLP/HTTP rule for endpoints: a URL with no path (or only `/`) is a base
    /// endpoint, as `OTEL_EXPORTER_OTLP_ENDPOINT`, and gets `/v1/metrics`; a URL with a path is used as
    /// it is. The query, if any, is kept.
    public static func exportURL(_ url: String) -> String {
        let bytes = Array(url.utf8)
        var i = 0
        if let s = bytes.indices.dropLast(2).first(where: {
            bytes[$0] == UInt8(ascii: ":") && bytes[$0 + 1] == UInt8(ascii: "/") && bytes[$0 + 2] == UInt8(ascii: "/")
        }) { i = s + 3 }
        // The authority ends at the first "/", "?" or "#".
        while i < bytes.count, bytes[i] != UInt8(ascii: "/"), bytes[i] != UInt8(ascii: "?"), bytes[i] != UInt8(ascii: "#") {
            i += 1
        }
        let authorityEnd = i
        while i < bytes.count, bytes[i] != UInt8(ascii: "?"), bytes[i] != UInt8(ascii: "#") { i += 1 }
        let path = bytes[authorityEnd..<i]
        guard path.isEmpty || path.elementsEqual("/".utf8) else { return url }
        return String(decoding: bytes[..<authorityEnd], as: UTF8.self) + metricsPath
            + String(decoding: bytes[i...], as: UTF8.self)
    }

    public static func == (a: OTLPDestinationOptions, b: OTLPDestinationOptions) -> Bool {
        a.serviceName == b.serviceName && a.gzip == b.gzip && a.headers.count == b.headers.count
            && zip(a.headers, b.headers).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
    }

    /// `name` equals the lower-case ASCII `key`, ignoring the case of ASCII letters.
    private static func equalsIgnoringASCIICase(_ name: String, _ key: String) -> Bool {
        guard name.utf8.count == key.utf8.count else { return false }
        return zip(name.utf8, key.utf8).allSatisfy { a, b in
            (a >= UInt8(ascii: "A") && a <= UInt8(ascii: "Z") ? a | 0x20 : a) == b
        }
    }
}
