/// Reads the user of an `Authorization: Basic …` header (RFC 7617), as drains send it: a drain URL
/// `https://TOKEN@host/logs` becomes `Basic base64(TOKEN:)`.
public enum BasicAuthorization {
    /// The user (the part before the first `:`) of a `Basic` header; the scheme is case-insensitive,
    /// the base64 standard or URL-safe, padding optional. Nil when the header is missing, not Basic,
    /// not base64 of UTF-8 text, or its user is empty. The password is ignored.
    public static func user(of header: String?) -> String? {
        guard var header else { return nil }
        return header.withUTF8 { user(ofBytes: UnsafeRawBufferPointer($0)) }
    }

    private static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D }

    static func user(ofBytes h: UnsafeRawBufferPointer) -> String? {
        var start = 0, end = h.count
        while start < end, isSpace(h[start]) { start += 1 }
        while end > start, isSpace(h[end - 1]) { end -= 1 }
        let scheme: [UInt8] = [0x62, 0x61, 0x73, 0x69, 0x63]   // "basic"
        guard end - start > scheme.count + 1 else { return nil }
        for i in 0..<scheme.count where h[start + i] | 0x20 != scheme[i] { return nil }
        start += scheme.count
        guard h[start] == 0x20 || h[start] == 0x09 else { return nil }
        while start < end, h[start] == 0x20 || h[start] == 0x09 { start += 1 }
        guard start < end,
              let decoded = Base64URL.decode(UnsafeRawBufferPointer(rebasing: h[start..<end]), standardAlphabet: true)
        else { return nil }
        let userEnd = decoded.firstIndex(of: UInt8(ascii: ":")) ?? decoded.count
        guard userEnd > 0 else { return nil }
        return String(utf8Text: Array(decoded[0..<userEnd]))
    }
}
