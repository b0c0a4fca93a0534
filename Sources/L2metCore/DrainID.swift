/// A drain's name for operators (`/metrics` labels, logs): 16 hex digits of a 64-bit FNV-1a hash of
/// its token. The same token always gives the same id in every process; the id says nothing about
/// the token's plaintext (the token is encrypted, and a hash of it cannot be turned back into it).
public enum DrainID {
    public static func of(token: String) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in token.utf8 {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01B3
        }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: max(0, 16 - hex.count)) + hex
    }
}
