/// Why a Fernet key or token was refused. The messages name the failure, never a key or a token.
public enum FernetError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The token is not base64url text.
    case badBase64
    /// The token's first byte is not 0x80.
    case wrongVersion
    /// The token is too short, or its ciphertext is not whole AES blocks.
    case badLength
    /// The token is older than the TTL.
    case expired
    /// The token's timestamp is more than 60 seconds ahead of now.
    case fromTheFuture
    /// The HMAC does not match: a different key, or a changed token.
    case badHMAC
    /// The HMAC matched but the decrypted PKCS#7 padding is wrong.
    case badPadding
    /// The plaintext is not UTF-8 text (where text is expected).
    case notText
    /// No key at all: SECRETS is not set or is empty.
    case noKey
    /// A single key that is not base64url of 32 bytes.
    case malformedKey
    /// Key `position` (1-based) of `count` in SECRETS is not base64url of 32 bytes.
    case malformedKeyInSecrets(position: Int, count: Int)

    public var description: String {
        switch self {
        case .badBase64: return "bad base64: the token is not base64url text"
        case .wrongVersion: return "wrong version: the token's first byte is not 0x80, so it is not a Fernet token"
        case .badLength: return "bad length: the token is too short or its ciphertext is not whole AES blocks"
        case .expired: return "expired: the token is older than the TTL"
        case .fromTheFuture: return "from the future: the token's timestamp is more than 60 s ahead of now"
        case .badHMAC: return "bad HMAC: the token was not made with this key, or it was changed"
        case .badPadding: return "bad padding: the decrypted message has invalid PKCS#7 padding"
        case .notText: return "not text: the decrypted message is not UTF-8"
        case .noKey: return "no key: SECRETS is not set or holds no key"
        case .malformedKey: return "malformed key: the key is not base64url of 32 bytes"
        case let .malformedKeyInSecrets(position, count):
            return "malformed key: key \(position) of \(count) in SECRETS is not base64url of 32 bytes"
        }
    }
}
