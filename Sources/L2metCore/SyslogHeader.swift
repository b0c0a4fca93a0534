/// The RFC5424 header of one frame's message:
/// `<PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP [STRUCTURED-DATA SP] TEXT`.
///
/// STRUCTURED-DATA is optional (Heroku leaves it out, log-shuttle writes `-`): a `-` or well-formed
/// `[id name="value" …]` elements are skipped; anything else is the start of TEXT. A UTF-8 BOM at the
/// start of TEXT (RFC5424 MSG-UTF8) is skipped too. One trailing `\n`
/// (and then one `\r`) is taken off TEXT. The fields point into the message's bytes.
public struct SyslogHeader {
    /// Microseconds since the epoch; nil when the timestamp is `-` or does not parse (or was not
    /// asked for).
    public var timestamp: Int64?
    /// The TIMESTAMP field as it stands.
    public var timestampField: UnsafeRawBufferPointer
    public var hostname: UnsafeRawBufferPointer
    public var appName: UnsafeRawBufferPointer
    public var procID: UnsafeRawBufferPointer
    public var msgID: UnsafeRawBufferPointer
    public var text: UnsafeRawBufferPointer

    /// Reads the header of `msg`; nil when it is not one (no `<PRI>`, no version, a field missing).
    /// With `parseTimestamp` false, `timestamp` is left nil for the caller to read from `timestampField`.
    public static func parse(_ msg: UnsafeRawBufferPointer, parseTimestamp: Bool = true) -> SyslogHeader? {
        let n = msg.count
        guard n > 3, msg[0] == 0x3C else { return nil }
        var p = 1
        while p < n, p <= 4, msg[p] &- 0x30 <= 9 { p += 1 }
        guard p > 1, p < n, msg[p] == 0x3E else { return nil }
        p += 1
        let versionStart = p
        while p < n, p - versionStart < 3, msg[p] &- 0x30 <= 9 { p += 1 }
        guard p > versionStart, p < n, msg[p] == 0x20 else { return nil }
        p += 1

        @inline(__always) func field(_ p: inout Int) -> UnsafeRawBufferPointer? {
            let s = p
            p = ByteScan.find(0x20, in: msg, from: p, end: n)
            guard p > s, p < n else { return nil }
            let r = UnsafeRawBufferPointer(rebasing: msg[s..<p])
            p += 1
            return r
        }
        // The last field may end the message (no TEXT at all).
        @inline(__always) func lastField(_ p: inout Int) -> UnsafeRawBufferPointer? {
            let s = p
            while p < n, msg[p] != 0x20, msg[p] != 0x0A { p += 1 }
            guard p > s else { return nil }
            let r = UnsafeRawBufferPointer(rebasing: msg[s..<p])
            if p < n, msg[p] == 0x20 { p += 1 }
            return r
        }
        guard let ts = field(&p), let host = field(&p), let app = field(&p), let proc = field(&p),
              let msgID = lastField(&p)
        else { return nil }

        // Structured data.
        if p < n {
            if msg[p] == 0x2D, p + 1 == n || msg[p + 1] == 0x20 || msg[p + 1] == 0x0A {
                p += 1
                if p < n, msg[p] == 0x20 { p += 1 }
            } else if msg[p] == 0x5B, let end = structuredDataEnd(msg, from: p),
                      end == n || msg[end] == 0x20 || msg[end] == 0x0A {
                p = end
                if p < n, msg[p] == 0x20 { p += 1 }
            }
        }
        // RFC5424 MSG-UTF8 starts with a BOM; it is not part of the text.
        if n - p >= 3, msg[p] == 0xEF, msg[p + 1] == 0xBB, msg[p + 2] == 0xBF { p += 3 }
        var e = n
        if e > p, msg[e - 1] == 0x0A { e -= 1 }
        if e > p, msg[e - 1] == 0x0D { e -= 1 }
        let timestamp: Int64? = !parseTimestamp || (ts.count == 1 && ts[0] == 0x2D) ? nil : RFC3339.parseMicros(ts)
        return SyslogHeader(timestamp: timestamp, timestampField: ts, hostname: host, appName: app, procID: proc, msgID: msgID,
                            text: UnsafeRawBufferPointer(rebasing: msg[min(p, e)..<e]))
    }

    /// The offset just past well-formed SD-ELEMENTs starting at `from` (`[`), or nil.
    static func structuredDataEnd(_ msg: UnsafeRawBufferPointer, from: Int) -> Int? {
        let n = msg.count
        var p = from
        @inline(__always) func isNameByte(_ b: UInt8) -> Bool {
            b > 0x20 && b < 0x7F && b != 0x3D && b != 0x5D && b != 0x22
        }
        var elements = 0
        while p < n, msg[p] == 0x5B {
            p += 1
            let idStart = p
            while p < n, isNameByte(msg[p]) { p += 1 }
            guard p > idStart, p < n else { return nil }
            while p < n, msg[p] == 0x20 {
                p += 1
                let nameStart = p
                while p < n, isNameByte(msg[p]) { p += 1 }
                guard p > nameStart, p + 1 < n, msg[p] == 0x3D, msg[p + 1] == 0x22 else { return nil }
                p += 2
                var closed = false
                while p < n {
                    let b = msg[p]
                    if b == 0x5C {
                        p += 2
                    } else if b == 0x22 {
                        p += 1
                        closed = true
                        break
                    } else {
                        p += 1
                    }
                }
                guard closed else { return nil }
            }
            guard p < n, msg[p] == 0x5D else { return nil }
            p += 1
            elements += 1
        }
        return elements > 0 ? p : nil
    }
}
