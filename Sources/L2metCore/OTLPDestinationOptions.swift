/// The `#name=value&…` pairs of an `otlp+https://…` destination, read for the OTLP outlet: every pair
/// is an HTTP header sent with each request, except the reserved key `service.name` (any case), which
/// sets the `service.name` resource attribute instead (drain bucket keys do not carry the app's name).
/// Without it, `service.name` is `unknown_service:l2met`.
public struct OTLPDestinationOptions: Sendable, Equatable {
    /// The reserved fragment key.
    public static let serviceNameKey = "service.name"
    /// `service.name` when the destination names none (OpenTelemetry's `unknown_service:` convention).
    public static let defaultServiceName = "unknown_service:l2met"

    /// Headers to send (names as given, values secret).
    public var headers: [(String, String)]
    /// The `service.name` resource attribute.
    public var serviceName: String

    /// Splits a destination's fragment pairs (`Destination.otlp(url:headers:)`). The last non-empty
    /// `service.name` wins.
    public init(fragment pairs: [(String, String)]) {
        var headers: [(String, String)] = []
        var service: String?
        for (name, value) in pairs {
            if Self.isServiceNameKey(name) {
                if !value.isEmpty { service = value }
            } else {
                headers.append((name, value))
            }
        }
        self.headers = headers
        self.serviceName = service ?? Self.defaultServiceName
    }

    public static func == (a: OTLPDestinationOptions, b: OTLPDestinationOptions) -> Bool {
        a.serviceName == b.serviceName && a.headers.count == b.headers.count
            && zip(a.headers, b.headers).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
    }

    private static func isServiceNameKey(_ name: String) -> Bool {
        let key = serviceNameKey.utf8
        guard name.utf8.count == key.count else { return false }
        return zip(name.utf8, key).allSatisfy { a, b in
            (a >= UInt8(ascii: "A") && a <= UInt8(ascii: "Z") ? a | 0x20 : a) == b
        }
    }
}
