import COpenSSL

/// The few libcrypto calls Fernet needs: AES-128-CBC without OpenSSL's padding (Fernet's PKCS#7 is
/// applied and checked here), HMAC-SHA256, random bytes and a constant-time compare.
enum OpenSSLPrimitives {
    static let blockSize = 16

    /// AES-128-CBC over whole blocks (`input.count` a multiple of 16). Nil only if libcrypto fails.
    static func aes128CBC(encrypt: Bool, key: [UInt8], iv: [UInt8], input: UnsafeRawBufferPointer) -> [UInt8]? {
        guard key.count == 16, iv.count == 16, input.count % blockSize == 0,
              let ctx = EVP_CIPHER_CTX_new() else { return nil }
        defer { EVP_CIPHER_CTX_free(ctx) }
        let initialised = key.withUnsafeBufferPointer { k in
            iv.withUnsafeBufferPointer { v in
                EVP_CipherInit_ex(ctx, EVP_aes_128_cbc(), nil, k.baseAddress, v.baseAddress, encrypt ? 1 : 0)
            }
        }
        guard initialised == 1, EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 else { return nil }
        if input.isEmpty { return [] }
        var out = [UInt8](repeating: 0, count: input.count + blockSize)
        var written: Int32 = 0
        var final: Int32 = 0
        let ok = out.withUnsafeMutableBufferPointer { o -> Bool in
            guard let base = o.baseAddress,
                  EVP_CipherUpdate(ctx, base, &written, input.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                   Int32(input.count)) == 1
            else { return false }
            return EVP_CipherFinal_ex(ctx, base + Int(written), &final) == 1
        }
        guard ok else { return nil }
        let total = Int(written) + Int(final)
        guard total <= out.count else { return nil }
        out.removeLast(out.count - total)
        return out
    }

    /// HMAC-SHA256 of `data` with `key`.
    static func hmacSHA256(key: [UInt8], data: UnsafeRawBufferPointer) -> [UInt8] {
        var mac = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 32
        var emptyByte: UInt8 = 0
        key.withUnsafeBufferPointer { k in
            mac.withUnsafeMutableBufferPointer { m in
                withUnsafeMutablePointer(to: &emptyByte) { empty in
                    let d = data.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? UnsafePointer(empty)
                    let result = HMAC(EVP_sha256(), k.baseAddress, Int32(k.count), d, data.count, m.baseAddress, &length)
                    precondition(result != nil && length == 32, "HMAC-SHA256 failed in libcrypto")
                }
            }
        }
        return mac
    }

    /// `count` cryptographically random bytes. A failing random generator is not survivable.
    static func randomBytes(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let ok = bytes.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(count)) }
        precondition(ok == 1, "RAND_bytes failed: no secure randomness available")
        return bytes
    }

    /// True when both are the same length and equal, compared in constant time.
    static func constantTimeEqual(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return CRYPTO_memcmp(a.baseAddress, b.baseAddress, a.count) == 0
    }
}
