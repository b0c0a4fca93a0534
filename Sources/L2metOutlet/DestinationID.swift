import L2metCore

/// A destination's identity for the outlet's per-destination state in memory (queues, breakers):
/// equal exactly when the destinations are equal. It holds credentials: never log it (log
/// `Destination.loggableName`).
struct DestinationID: Hashable, Sendable {
    private let raw: String

    init(_ destination: Destination) {
        switch destination {
        case let .librato(user, token, url): raw = "librato\u{0}\(user)\u{0}\(token)\u{0}\(url ?? "")"
        case let .otlp(url, headers): raw = "otlp\u{0}\(url)" + headers.map { "\u{0}\($0.0)\u{1}\($0.1)" }.joined()
        case .local: raw = "local"
        }
    }
}
