/// Base64 (RFC 4648) for Fernet keys and tokens (URL-safe alphabet) and Basic credentials (either alphabet).
///
/// Decoding is strict: only the alphabet's characters, padding either absent or exactly right, no
/// leftover bits, no whitespace. It works on bytes and never traps on bad input.
enum Base64URL {
    private static let urlAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// 0...63 for an alphabet character, 0xFF for anything else. Both `-_` and `+/` are mapped; the
    /// decoder decides which it accepts.
    private static let table: [UInt8] = {
        var t = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in urlAlphabet.enumerated() { t[Int(c)] = UInt8(i) }
        return t
    }()

    /// URL-safe base64 with `=` padding (what Fernet and Python's `urlsafe_b64encode` write).
    static func encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out.append(urlAlphabet[Int(n >> 18 & 63)])
            out.append(urlAlphabet[Int(n >> 12 & 63)])
            out.append(urlAlphabet[Int(n >> 6 & 63)])
            out.append(urlAlphabet[Int(n & 63)])
            i += 3
        }
        let rest = bytes.count - i
        if rest == 1 {
            let n = UInt32(bytes[i]) << 16
            out.append(urlAlphabet[Int(n >> 18 & 63)])
            out.append(urlAlphabet[Int(n >> 12 & 63)])
            out.append(UInt8(ascii: "="))
            out.append(UInt8(ascii: "="))
        } else if rest == 2 {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out.append(urlAlphabet[Int(n >> 18 & 63)])
            out.append(urlAlphabet[Int(n >> 12 & 63)])
            out.append(urlAlphabet[Int(n >> 6 & 63)])
            out.append(UInt8(ascii: "="))
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes URL-safe base64 (and, when `standardAlphabet` is true, also `+` and `/`), with or
    /// without padding. Returns nil for anything else.
    static func decode(_ text: String, standardAlphabet: Bool = false) -> [UInt8]? {
        var text = text
        return text.withUTF8 { decode(UnsafeRawBufferPointer($0), standardAlphabet: standardAlphabet) }
    }

    static func decode(_ input: UnsafeRawBufferPointer, standardAlphabet: Bool) -> [UInt8]? {
        var end = input.count
        var padding = 0
        while end > 0, input[end - 1] == UInt8(ascii: "=") {
            end -= 1
            padding += 1
        }
        // Without padding, a length of 1 mod 4 is never valid; with padding, the total must be whole quads
        // and the padding exactly what the data needs.
        let tail = end % 4
        if tail == 1 { return nil }
        if padding > 0 {
            guard (end + padding) % 4 == 0, padding == (4 - tail) % 4 else { return nil }
        }
        var out = [UInt8]()
        out.reserveCapacity(end / 4 * 3 + 2)
        var acc: UInt32 = 0
        var bits = 0
        for i in 0..<end {
            var c = input[i]
            if standardAlphabet {
                if c == UInt8(ascii: "+") { c = UInt8(ascii: "-") } else if c == UInt8(ascii: "/") { c = UInt8(ascii: "_") }
            }
            let v = table[Int(c)]
            if v == 0xFF { return nil }
            acc = acc << 6 | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: acc >> UInt32(bits)))
                acc &= (1 << UInt32(bits)) - 1
            }
        }
        // Leftover bits must be zero (a canonical encoding).
        if acc != 0 { return nil }
        return out
    }
}
