/// Makes metric names and sources safe: every byte outside `A-Za-z0-9.:_-` becomes `_`, one `_` per
/// UTF-8 character (continuation bytes of a character add nothing), and the result is at most
/// `maxLength` bytes. The output is always ASCII.
public enum NameSanitizer {
    public static let maxLength = 255
    /// Measurement names leave room for the longest gauge suffix (`.median`, `.perc95`, `.perc99`),
    /// so every gauge name stays within `maxLength`.
    public static let measurementMaxLength = maxLength - 7

    /// The allowed bytes as bitmaps: `-`, `.`, `0-9`, `:` among 0x00-0x3F; `A-Z`, `_`, `a-z` among 0x40-0x7F.
    static let allowedLow: UInt64 = (1 << 0x2D) | (1 << 0x2E) | (((1 << 11) - 1) << 0x30)
    static let allowedHigh: UInt64 = (((1 << 26) - 1) << 0x01) | (1 << 0x1F) | (((1 << 26) - 1) << 0x21)

    @inline(__always)
    static func isAllowed(_ b: UInt8) -> Bool {
        let bits: UInt64 = b < 0x40 ? allowedLow : (b < 0x80 ? allowedHigh : 0)
        return (bits >> UInt64(b & 0x3F)) & 1 != 0
    }

    /// Whether all eight bytes of `x` are allowed (SWAR range checks; no byte is 0x80 or above).
    @inline(__always)
    static func allAllowed(_ x: UInt64) -> Bool {
        let highs: UInt64 = 0x8080_8080_8080_8080, ones: UInt64 = 0x0101_0101_0101_0101
        if x & highs != 0 { return false }
        let y = x | highs
        // High bit of each byte set where that byte of `x` is >= lo (no borrow crosses bytes).
        @inline(__always) func atLeast(_ lo: UInt64) -> UInt64 { (y &- ones &* lo) & highs }
        let inside = (atLeast(0x2D) & ~atLeast(0x2F)) | (atLeast(0x30) & ~atLeast(0x3B))
            | (atLeast(0x41) & ~atLeast(0x5B)) | (atLeast(0x5F) & ~atLeast(0x60)) | (atLeast(0x61) & ~atLeast(0x7B))
        return inside == highs
    }

    /// Appends the sanitised `raw` at `out + count`, not going past `limit` bytes in all;
    /// returns the new count.
    @inline(__always)
    static func append(_ raw: UnsafeRawBufferPointer, to out: UnsafeMutablePointer<UInt8>, count: Int,
                       limit: Int = maxLength) -> Int {
        var c = count
        var i = 0
        let n = raw.count
        // Fast path: whole words of allowed bytes are copied as they are.
        if let base = raw.baseAddress, count + n <= limit {
            while i &+ 8 <= n {
                let x = base.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                guard allAllowed(x) else { break }
                UnsafeMutableRawPointer(out + c).storeBytes(of: x, as: UInt64.self)
                c &+= 8
                i &+= 8
            }
        }
        var pendingContinuation = 0
        while i < n {
            let b = raw[i]
            i &+= 1
            if c >= limit { break }
            if isAllowed(b) {
                out[c] = b
                c += 1
                pendingContinuation = 0
            } else if b & 0xC0 == 0x80, pendingContinuation > 0 {
                pendingContinuation -= 1
            } else {
                out[c] = 0x5F
                c += 1
                if b >= 0xF0 { pendingContinuation = 3 } else if b >= 0xE0 { pendingContinuation = 2 }
                else if b >= 0xC0 { pendingContinuation = 1 } else { pendingContinuation = 0 }
            }
        }
        return c
    }

    /// Appends `raw` as is (already safe), within `limit`.
    @inline(__always)
    static func appendRaw(_ raw: UnsafeRawBufferPointer, to out: UnsafeMutablePointer<UInt8>, count: Int,
                          limit: Int = maxLength) -> Int {
        let k = min(raw.count, limit - count)
        if k > 0, let base = raw.baseAddress {
            (out + count).update(from: base.assumingMemoryBound(to: UInt8.self), count: k)
        }
        return count + max(0, k)
    }

    /// The sanitised form of `s` (for prefixes and tests).
    public static func sanitize(_ s: String) -> String {
        var bytes = Array(s.utf8)
        let out = UnsafeMutablePointer<UInt8>.allocate(capacity: maxLength)
        defer { out.deallocate() }
        let n = bytes.withUnsafeMutableBytes { append(UnsafeRawBufferPointer($0), to: out, count: 0) }
        bytes = Array(UnsafeBufferPointer(start: out, count: n))
        return String(decoding: bytes, as: UTF8.self)
    }
}
