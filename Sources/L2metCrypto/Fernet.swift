/// Fernet (version 0x80, https://github.com/fernet/spec): authenticated encryption of a message
/// with one 32-byte key (16-byte signing key ‖ 16-byte encryption key), AES-128-CBC and HMAC-SHA256.
///
/// Token bytes: `0x80 ‖ timestamp (64-bit BE seconds) ‖ IV (16) ‖ ciphertext (PKCS#7) ‖ HMAC (32)`,
/// written as URL-safe base64 with padding.
public struct Fernet: Sendable {
    /// Seconds a token's timestamp may be ahead of `now`.
    public static let maxClockSkew: Int64 = 60

    let signingKey: [UInt8]
    let encryptionKey: [UInt8]

    /// A key given as base64url of 32 bytes (padding optional).
    public init(key: String) throws(FernetError) {
        guard let bytes = Base64URL.decode(key), bytes.count == 32 else { throw .malformedKey }
        self.init(keyBytes: bytes)
    }

    /// A key from its 32 raw bytes (signing key first).
    init(keyBytes: [UInt8]) {
        signingKey = Array(keyBytes[0..<16])
        encryptionKey = Array(keyBytes[16..<32])
    }

    /// A fresh random key, base64url of 32 bytes.
    public static func generateKey() -> String {
        Base64URL.encode(OpenSSLPrimitives.randomBytes(32))
    }

    /// The token of `plaintext` made at `now` (epoch seconds). `iv` is for test vectors only (16
    /// bytes); by default every token gets a fresh random IV.
    public func encrypt(plaintext: [UInt8], now: Int64, iv: [UInt8]? = nil) -> String {
        let block = OpenSSLPrimitives.blockSize
        let pad = block - plaintext.count % block
        var padded = plaintext
        padded.append(contentsOf: repeatElement(UInt8(pad), count: pad))
        return seal(paddedPlaintext: padded, now: now, iv: iv)
    }

    /// Encrypts whole blocks as they are (no padding added) and signs the token: `encrypt` pads
    /// first; tests use this to make tokens whose padding is wrong but whose HMAC is right.
    func seal(paddedPlaintext: [UInt8], now: Int64, iv: [UInt8]?) -> String {
        let iv = iv ?? OpenSSLPrimitives.randomBytes(16)
        precondition(iv.count == 16, "a Fernet IV is 16 bytes")
        guard let ciphertext = paddedPlaintext.withUnsafeBytes({
            OpenSSLPrimitives.aes128CBC(encrypt: true, key: encryptionKey, iv: iv, input: $0)
        }) else {
            preconditionFailure("AES-128-CBC encryption failed in libcrypto")
        }
        var token = [UInt8]()
        token.reserveCapacity(1 + 8 + 16 + ciphertext.count + 32)
        token.append(0x80)
        let ts = UInt64(bitPattern: now)
        for shift in stride(from: 56, through: 0, by: -8) { token.append(UInt8(truncatingIfNeeded: ts >> UInt64(shift))) }
        token.append(contentsOf: iv)
        token.append(contentsOf: ciphertext)
        let mac = token.withUnsafeBytes { OpenSSLPrimitives.hmacSHA256(key: signingKey, data: $0) }
        token.append(contentsOf: mac)
        return Base64URL.encode(token)
    }

    /// The plaintext of `token`, checked in the spec's order: base64url, version, length, TTL
    /// (`ttl` nil = no limit; expired when now > timestamp + ttl), clock skew, HMAC (constant-time,
    /// before any decryption), then padding.
    public func decrypt(token: String, ttl: Int64?, now: Int64) throws(FernetError) -> [UInt8] {
        let parsed = try FernetToken(token)
        try parsed.checkTime(ttl: ttl, now: now)
        guard parsed.isSigned(by: self) else { throw .badHMAC }
        return try parsed.open(with: self)
    }
}

/// A token's bytes, base64url-decoded and checked for version and length (not yet for its HMAC).
struct FernetToken {
    let bytes: [UInt8]
    let timestamp: UInt64

    init(_ token: String) throws(FernetError) {
        guard let bytes = Base64URL.decode(token) else { throw .badBase64 }
        guard let first = bytes.first else { throw .badLength }
        guard first == 0x80 else { throw .wrongVersion }
        // version + timestamp + IV + at least one block + HMAC; ciphertext whole blocks.
        guard bytes.count >= 1 + 8 + 16 + 16 + 32, (bytes.count - 57) % 16 == 0 else { throw .badLength }
        var ts: UInt64 = 0
        for i in 1...8 { ts = ts << 8 | UInt64(bytes[i]) }
        self.bytes = bytes
        timestamp = ts
    }

    /// Expired when now > timestamp + ttl; refused when timestamp > now + 60 s. No overflow traps.
    func checkTime(ttl: Int64?, now: Int64) throws(FernetError) {
        // A timestamp past Int64.max is certainly far in the future.
        guard timestamp <= UInt64(Int64.max) else { throw .fromTheFuture }
        let ts = Int64(timestamp)
        if let ttl {
            let (limit, overflow) = ts.addingReportingOverflow(ttl)
            if overflow ? ttl < 0 : now > limit { throw .expired }
        }
        let (latest, overflow) = now.addingReportingOverflow(Fernet.maxClockSkew)
        if !overflow, ts > latest { throw .fromTheFuture }
    }

    /// Constant-time check of the HMAC against `key`'s signing key.
    func isSigned(by key: Fernet) -> Bool {
        bytes.withUnsafeBytes { all in
            let signed = UnsafeRawBufferPointer(rebasing: all[0..<(all.count - 32)])
            let expected = OpenSSLPrimitives.hmacSHA256(key: key.signingKey, data: signed)
            return expected.withUnsafeBytes { OpenSSLPrimitives.constantTimeEqual($0, UnsafeRawBufferPointer(rebasing: all[(all.count - 32)...])) }
        }
    }

    /// Decrypts (after `isSigned(by:)` said yes) and strips the PKCS#7 padding.
    func open(with key: Fernet) throws(FernetError) -> [UInt8] {
        let iv = Array(bytes[9..<25])
        let decrypted = bytes.withUnsafeBytes { all in
            OpenSSLPrimitives.aes128CBC(encrypt: false, key: key.encryptionKey, iv: iv,
                                        input: UnsafeRawBufferPointer(rebasing: all[25..<(all.count - 32)]))
        }
        guard var plain = decrypted, let last = plain.last else { throw .badPadding }
        let pad = Int(last)
        guard pad >= 1, pad <= OpenSSLPrimitives.blockSize, pad <= plain.count else { throw .badPadding }
        for i in (plain.count - pad)..<plain.count where plain[i] != last { throw .badPadding }
        plain.removeLast(pad)
        return plain
    }
}
