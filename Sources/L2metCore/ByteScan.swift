/// Word-at-a-time delimiter searches for the line scanners (SWAR: eight bytes per step, then an
/// exact byte-by-byte check where the word says a delimiter may be).
enum ByteScan {
    static let ones: UInt64 = 0x0101_0101_0101_0101
    static let highs: UInt64 = 0x8080_8080_8080_8080

    /// Bytes below 0x21 (space, tab, CR, LF and other controls) flagged in their high bit; the lowest
    /// flagged byte is exact.
    @inline(__always)
    static func controlOrSpace(_ x: UInt64) -> UInt64 {
        (x &- ones &* 0x21) & ~x & highs
    }

    /// Bytes equal to `byte` flagged; the lowest flagged byte is exact.
    @inline(__always)
    static func equal(_ x: UInt64, _ byte: UInt8) -> UInt64 {
        let y = x ^ (ones &* UInt64(byte))
        return (y &- ones) & ~y & highs
    }

    @inline(__always)
    static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }

    /// The first offset in `from..<end` holding a space, tab, CR, LF or (when `orEquals`) `=`; `end` when none.
    @inline(__always)
    static func findDelimiter(_ buf: UnsafeRawBufferPointer, from: Int, end: Int, orEquals: Bool) -> Int {
        var p = from
        while true {
            while p &+ 8 <= end {
                let x = UInt64(littleEndian: buf.loadUnaligned(fromByteOffset: p, as: UInt64.self))
                var m = controlOrSpace(x)
                if orEquals { m |= equal(x, 0x3D) }
                if m != 0 {
                    p &+= m.trailingZeroBitCount &>> 3
                    break
                }
                p &+= 8
            }
            if p >= end { return end }
            let b = buf[p]
            if isSpace(b) || (orEquals && b == 0x3D) { return p }
            p &+= 1
        }
    }

    /// The first offset in `from..<end` holding a double quote or a backslash; `end` when none.
    @inline(__always)
    static func findQuoteOrBackslash(_ buf: UnsafeRawBufferPointer, from: Int, end: Int) -> Int {
        var p = from
        while p &+ 8 <= end {
            let x = UInt64(littleEndian: buf.loadUnaligned(fromByteOffset: p, as: UInt64.self))
            let m = equal(x, 0x22) | equal(x, 0x5C)
            if m != 0 { return p &+ (m.trailingZeroBitCount &>> 3) }
            p &+= 8
        }
        while p < end {
            let b = buf[p]
            if b == 0x22 || b == 0x5C { return p }
            p &+= 1
        }
        return end
    }

    /// The first offset in `from..<end` holding exactly `byte`; `end` when none.
    @inline(__always)
    static func find(_ byte: UInt8, in buf: UnsafeRawBufferPointer, from: Int, end: Int) -> Int {
        var p = from
        while p &+ 8 <= end {
            let x = UInt64(littleEndian: buf.loadUnaligned(fromByteOffset: p, as: UInt64.self))
            let m = equal(x, byte)
            if m != 0 { return p &+ (m.trailingZeroBitCount &>> 3) }
            p &+= 8
        }
        while p < end {
            if buf[p] == byte { return p }
            p &+= 1
        }
        return end
    }
}
