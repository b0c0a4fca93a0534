import L2metCore

/// Why a drain request's credentials were refused (answered 401). The messages never contain the
/// drain token or anything decrypted from it beyond a destination scheme.
public enum DrainAuthError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No `Authorization` header, or an empty user in it.
    case missingCredentials
    /// An `Authorization` header that is not `Basic base64(token:)`.
    case notBasic
    /// The token does not decrypt with any of the server's keys.
    case undecryptable(FernetError)
    /// The token decrypts, but its plaintext is not a destination l2met knows.
    case badDestination(DestinationError)

    public var description: String {
        switch self {
        case .missingCredentials:
            return "missing credentials: send Authorization: Basic base64(TOKEN:), as a drain URL https://TOKEN@host/logs does"
        case .notBasic:
            return "the Authorization header is not Basic base64(TOKEN:)"
        case .undecryptable(let why):
            return "the drain token cannot be decrypted: \(why)"
        case .badDestination(let why):
            switch why {
            case .empty, .unknownScheme: return "the drain token names no usable destination: \(why)"
            // Details of a malformed destination could quote part of a secret: leave them out.
            case .malformed: return "the drain token names no usable destination: malformed destination"
            }
        }
    }
}
