/// Reads RFC6587 octet-counted frames (`LEN SP MSG`) from a drain body.
///
/// Spaces, tabs and line breaks between frames are skipped. A stretch that is not a frame (a length
/// that is not digits, has more than 9 digits, is zero, is not followed by a space, or is larger than
/// what remains) is counted in `brokenFrames` and skipped: reading resumes at the next plausible frame
/// start, `DIGITS SP <`, so one bad frame never stops the rest of the body.
public struct FrameReader {
    /// Longest length field accepted, in digits (a frame of a gigabyte is not a log line).
    public static let maxLengthDigits = 9

    public let body: UnsafeRawBufferPointer
    /// Offset of the next byte to read.
    public private(set) var position: Int = 0
    /// Broken stretches skipped so far.
    public private(set) var brokenFrames: Int = 0

    public init(_ body: UnsafeRawBufferPointer) {
        self.body = body
    }

    /// The next frame's MSG, or nil at the end of the body.
    public mutating func next() -> UnsafeRawBufferPointer? {
        let n = body.count
        while true {
            var p = position
            while p < n {
                let b = body[p]
                if b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 { p += 1 } else { break }
            }
            if p >= n {
                position = n
                return nil
            }
            let start = p
            var length = 0
            while p < n, p - start <= Self.maxLengthDigits {
                let d = body[p] &- 0x30
                if d > 9 { break }
                length = length &* 10 &+ Int(d)
                p += 1
            }
            let digits = p - start
            if digits > 0, digits <= Self.maxLengthDigits, p < n, body[p] == 0x20, length > 0, length <= n - p - 1 {
                let msgStart = p + 1
                position = msgStart + length
                return UnsafeRawBufferPointer(rebasing: body[msgStart..<(msgStart + length)])
            }
            brokenFrames += 1
            position = Self.resync(body, from: start + 1)
        }
    }

    /// The first offset at or after `from` where `DIGITS SP <` starts (digits not preceded by a
    /// digit), or the end of the body.
    static func resync(_ body: UnsafeRawBufferPointer, from: Int) -> Int {
        let n = body.count
        var p = from
        while p < n {
            if body[p] &- 0x30 <= 9, p == 0 || body[p - 1] &- 0x30 > 9 {
                var q = p
                while q < n, body[q] &- 0x30 <= 9 { q += 1 }
                if q + 1 < n, body[q] == 0x20, body[q + 1] == 0x3C, q - p <= maxLengthDigits { return p }
                p = q
            } else {
                p += 1
            }
        }
        return n
    }
}
