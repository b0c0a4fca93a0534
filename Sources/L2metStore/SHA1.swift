import COpenSSL

/// SHA-1 (OpenSSL's), only to name scripts for EVALSHA (no security role).
enum SHA1 {
    static func hex(_ message: [UInt8]) -> String {
        var digest = [UInt8](repeating: 0, count: 20)
        var length: UInt32 = 0
        let ok = message.withUnsafeBytes { m in
            EVP_Digest(m.baseAddress, m.count, &digest, &length, EVP_sha1(), nil)
        }
        if ok != 1 || length != 20 { fatalError("SHA-1 failed in libcrypto") }
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(40)
        for b in digest {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
