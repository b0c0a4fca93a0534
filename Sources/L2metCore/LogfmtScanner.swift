/// One `key=value`, `key="quoted value"` or bare `key` of a logfmt line. The byte ranges point into
/// the line; a quoted value's range excludes the quotes and is still escaped when `escaped` is true
/// (see `LogfmtScanner.unescape`).
public struct LogfmtPair {
    public var key: UnsafeRawBufferPointer
    /// nil for a bare key; empty for `key=`.
    public var value: UnsafeRawBufferPointer?
    /// The value was in double quotes.
    public var quoted: Bool
    /// The quoted value holds a backslash escape.
    public var escaped: Bool
}

/// Scans a line as logfmt, pair by pair, without copying: keys run up to `=` or a space; values
/// run up to a space, or up to the closing unescaped `"` when they start with one (an unterminated
/// quote runs to the end of the line).
public struct LogfmtScanner {
    public let line: UnsafeRawBufferPointer
    public private(set) var position = 0

    public init(_ line: UnsafeRawBufferPointer) {
        self.line = line
    }

    @inline(__always)
    static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }

    /// The next pair, or nil at the end of the line.
    @inline(__always)
    public mutating func next() -> LogfmtPair? {
        let n = line.count
        guard let base = line.baseAddress else { return nil }
        var p = position
        while p < n, Self.isSpace(base.load(fromByteOffset: p, as: UInt8.self)) { p &+= 1 }
        guard p < n else {
            position = n
            return nil
        }
        let keyStart = p
        p = ByteScan.findDelimiter(line, from: p, end: n, orEquals: true)
        let key = UnsafeRawBufferPointer(start: base + keyStart, count: p &- keyStart)
        guard p < n, base.load(fromByteOffset: p, as: UInt8.self) == 0x3D else {
            position = p
            return LogfmtPair(key: key, value: nil, quoted: false, escaped: false)
        }
        p &+= 1
        if p < n, base.load(fromByteOffset: p, as: UInt8.self) == 0x22 {
            p &+= 1
            let valueStart = p
            var escaped = false
            var valueEnd = n
            while p < n {
                p = ByteScan.findQuoteOrBackslash(line, from: p, end: n)
                guard p < n else { break }
                if base.load(fromByteOffset: p, as: UInt8.self) == 0x5C {
                    escaped = true
                    p &+= 2
                } else {
                    valueEnd = p
                    p &+= 1
                    break
                }
            }
            if p > n { p = n }
            if valueEnd > p { valueEnd = p }
            position = p
            return LogfmtPair(key: key, value: UnsafeRawBufferPointer(start: base + valueStart, count: valueEnd &- valueStart),
                              quoted: true, escaped: escaped)
        }
        let valueStart = p
        p = ByteScan.findDelimiter(line, from: p, end: n, orEquals: false)
        position = p
        return LogfmtPair(key: key, value: UnsafeRawBufferPointer(start: base + valueStart, count: p &- valueStart),
                          quoted: false, escaped: false)
    }

    /// Writes `value` with `\"` and `\\` (and any `\x`) unescaped to `x` at `into`, and returns the
    /// unescaped bytes. `into` must have room for `value.count` bytes (unescaping never grows).
    public static func unescape(_ value: UnsafeRawBufferPointer, into: UnsafeMutableRawPointer) -> UnsafeRawBufferPointer {
        var out = 0
        var p = 0
        let n = value.count
        while p < n {
            var b = value[p]
            if b == 0x5C, p + 1 < n {
                p += 1
                b = value[p]
            }
            into.storeBytes(of: b, toByteOffset: out, as: UInt8.self)
            out += 1
            p += 1
        }
        return UnsafeRawBufferPointer(start: into, count: out)
    }
}
