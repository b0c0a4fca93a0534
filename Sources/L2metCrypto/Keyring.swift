/// The server's Fernet keys, from `SECRETS` (colon-separated base64url keys): the first key
/// encrypts, every key decrypts, so keys can be rotated by putting a new one first. A key in the
/// standard base64 alphabet (`+`, `/`) is read too: the original l2met made its keys with
/// `openssl base64`, and the Go Fernet library it used accepted both.
///
/// Immutable after `init`, so it is safe to share between threads.
public final class Keyring: Sendable {
    let keys: [Fernet]
    private let keyBytes: [[UInt8]]

    /// Reads `SECRETS`. Surrounding whitespace is ignored. Throws `FernetError.noKey` when it holds no
    /// key and `.malformedKeyInSecrets(position:count:)` (1-based, never the key's text) for a bad one.
    public init(secrets: String) throws {
        let trimmed = secrets.trimmingWhitespace()
        guard !trimmed.isEmpty else { throw FernetError.noKey }
        let parts = trimmed.split(separator: ":", omittingEmptySubsequences: false)
        var keys: [Fernet] = []
        var raw: [[UInt8]] = []
        for (i, part) in parts.enumerated() {
            guard let bytes = Base64URL.decode(String(part).trimmingWhitespace(), standardAlphabet: true),
                  bytes.count == 32 else {
                throw FernetError.malformedKeyInSecrets(position: i + 1, count: parts.count)
            }
            keys.append(Fernet(keyBytes: bytes))
            raw.append(bytes)
        }
        self.keys = keys
        keyBytes = raw
    }

    /// How many keys it holds.
    public var count: Int { keys.count }

    /// The token of `plaintext`, made with the first key.
    public func encrypt(_ plaintext: String, now: Int64) -> String {
        keys[0].encrypt(plaintext: Array(plaintext.utf8), now: now)
    }

    /// The plaintext of `token`, made with any of the keys. Throws `FernetError`.
    public func decrypt(_ token: String, ttl: Int64? = nil, now: Int64) throws -> String {
        let bytes = try decryptBytes(token, ttl: ttl, now: now)
        guard let text = String(utf8Text: bytes) else { throw FernetError.notText }
        return text
    }

    /// The plaintext bytes of `token`: structure and time are checked once, then the HMAC against
    /// each key in turn; `badHMAC` only when no key signed it.
    public func decryptBytes(_ token: String, ttl: Int64? = nil, now: Int64) throws(FernetError) -> [UInt8] {
        let parsed = try FernetToken(token)
        try parsed.checkTime(ttl: ttl, now: now)
        for key in keys where parsed.isSigned(by: key) {
            return try parsed.open(with: key)
        }
        throw .badHMAC
    }

    /// True when `key` (base64url or standard base64, padding optional) is one of the keys; compared in
    /// constant time.
    public func containsKey(_ key: String) -> Bool {
        guard let candidate = Base64URL.decode(key.trimmingWhitespace(), standardAlphabet: true), candidate.count == 32
        else { return false }
        var found = false
        for k in keyBytes {
            let same = k.withUnsafeBytes { a in candidate.withUnsafeBytes { b in OpenSSLPrimitives.constantTimeEqual(a, b) } }
            found = found || same
        }
        return found
    }
}

extension String {
    /// The text of `bytes` when they are valid UTF-8, else nil.
    init?(utf8Text bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.utf8.elementsEqual(bytes) else { return nil }
        self = text
    }

    /// Without leading and trailing spaces, tabs and line breaks.
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
