/// Reads the user of an `Authorization: Basic …` header (RFC 7617), as drains send it: a drain URL
/// `https://TOKEN@host/logs` becomes `Basic base64(TOKEN:)`.
public enum BasicAuthorization {
    /// The user (the part before the first `:`) of a `Basic` header; the scheme is case-insensitive,
    /// the base64 standard or URL-safe, padding optional. Nil when the header is missing, not Basic,
    /// not base64 of UTF-8 text, or its user is empty. The password is ignored.
    public static func user(of header: String?) -> String? {
        guard let header else { return nil }
        let value = header.trimmingWhitespace()
        let utf8 = Array(value.utf8)
        let scheme = Array("basic".utf8)
        guard utf8.count > scheme.count else { return nil }
        for i in 0..<scheme.count where utf8[i] | 0x20 != scheme[i] { return nil }
        var start = scheme.count
        guard utf8[start] == UInt8(ascii: " ") || utf8[start] == UInt8(ascii: "\t") else { return nil }
        while start < utf8.count, utf8[start] == UInt8(ascii: " ") || utf8[start] == UInt8(ascii: "\t") { start += 1 }
        guard start < utf8.count else { return nil }
        let decoded = utf8[start...].withUnsafeBytes { Base64URL.decode($0, standardAlphabet: true) }
        guard let decoded, let text = String(utf8Text: decoded) else { return nil }
        let user = text.firstIndex(of: ":").map { String(text[..<$0]) } ?? text
        return user.isEmpty ? nil : user
    }
}
