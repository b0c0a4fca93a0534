import L2metCore

extension Destination {
    /// The secrets a log line must never show, as plaintext (`scrubbed` hides their encodings too):
    /// a Librato token and the `user:token` pair (what `Authorization: Basic` carries); OTLP header
    /// values (and, for a value `scheme credential`, the credential alone), the URL's query, and each
    /// of its values of 4 bytes or more, raw and percent-decoded (vendors that take their key as
    /// `?api-key=…`). Shorter query values are not taken for secrets, so they withhold nothing.
    var secrets: [String] {
        switch self {
        case let .librato(user, token, _): return [token, "\(user):\(token)"]
        case let .otlp(url, headers):
            var out: [String] = []
            for (_, value) in OTLPDestinationOptions(fragment: headers).headers {
                out.append(value)
                if let space = value.firstIndex(of: " ") {
                    let credential = value[value.index(after: space)...].drop { $0 == " " }
                    if credential.utf8.count >= 4 { out.append(String(credential)) }
                }
            }
            guard let q = url.firstIndex(of: "?") else { return out }
            let query = url[url.index(after: q)...].prefix { $0 != "#" }
            if !query.isEmpty { out.append(String(query)) }
            for pair in query.split(separator: "&") {
                guard let eq = pair.firstIndex(of: "=") else { continue }
                let value = String(pair[pair.index(after: eq)...])
                for v in [value, Destination.percentDecoded(value)] where v.utf8.count >= 4 { out.append(v) }
            }
            return out
        case .local: return []
        }
    }
}

/// Text for a log line: at most `limit` bytes, with every secret taken out. Invariant: the result
/// holds none of these forms of any secret (each is replaced by `[redacted]`): the secret itself,
/// percent-encoded, JSON-escaped, base64 (standard and URL-safe, padded or not, and the part of it that
/// depends on the secret alone at each of the three byte alignments, which is what shows inside a
/// longer base64 string such as `Basic base64(user:token)`), nor a start of one of them (4 bytes or
/// more) where the text was cut off; nor the value of any `Authorization: <scheme> <value>` (also
/// `Proxy-Authorization`, `"authorization":"…"`, `authorization=…`), whose scheme alone is kept. A
/// secret too short to redact safely (under 4 bytes) withholds the whole text instead; a transport
/// failure can be named with `HTTPPostResult.failureKind`, which never needs withholding.
func scrubbed(_ text: String, hiding secrets: [String], limit: Int) -> String {
    if secrets.contains(where: { !$0.isEmpty && $0.utf8.count < 4 }) {
        return "[withheld: the destination has a secret too short to redact]"
    }
    let bytes = Array(text.utf8)
    var hidden = [Bool](repeating: false, count: bytes.count)
    Redaction.markAuthorizationValues(bytes, &hidden)
    for form in Redaction.forms(of: secrets) {
        Redaction.markOccurrences(of: form, in: bytes, &hidden)
    }
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count)
    var i = 0
    while i < bytes.count {
        if hidden[i] {
            out.append(contentsOf: "[redacted]".utf8)
            while i < bytes.count && hidden[i] { i += 1 }
        } else {
            out.append(bytes[i])
            i += 1
        }
    }
    var s = String(decoding: out, as: UTF8.self)
    if s.utf8.count > limit {
        s = String(decoding: s.utf8.prefix(limit), as: UTF8.self) + "…"
    }
    return s
}

/// The pieces of `scrubbed`: the encoded forms of secrets, and where they (and Authorization values)
/// stand in a text. Pure functions on bytes.
enum Redaction {
    /// The shortest start of a form that is hidden where a text ends in it.
    static let shortestCutForm = 4

    /// Every form of `secrets` that `scrubbed` hides, without repeats, longest first.
    static func forms(of secrets: [String]) -> [[UInt8]] {
        var seen = Set<[UInt8]>()
        var out: [[UInt8]] = []
        func add(_ form: [UInt8]) {
            if !form.isEmpty, seen.insert(form).inserted { out.append(form) }
        }
        for secret in secrets where !secret.isEmpty {
            let raw = Array(secret.utf8)
            add(raw)
            add(percentEncoded(raw, upper: true, plusForSpace: false))
            add(percentEncoded(raw, upper: false, plusForSpace: false))
            add(percentEncoded(raw, upper: true, plusForSpace: true))
            add(percentEncoded(raw, upper: false, plusForSpace: true))
            add(jsonEscaped(raw))
            let whole = base64(raw)
            for b in [whole, urlSafe(whole)] {
                add(b)
                add(Array(b.prefix { $0 != UInt8(ascii: "=") }))
            }
            for fragment in base64Fragments(raw) {
                add(fragment)
                add(urlSafe(fragment))
            }
        }
        return out.sorted { $0.count > $1.count }
    }

    /// For each alignment k = 0, 1, 2: base64 of `raw` after k other bytes, only the characters that
    /// depend on `raw` alone (a 6-bit group within its bytes).
    static func base64Fragments(_ raw: [UInt8]) -> [[UInt8]] {
        (0..<3).map { k in
            let encoded = base64([UInt8](repeating: 0, count: k) + raw)
            let first = (8 * k + 5) / 6
            let end = min(encoded.count, (8 * k + 8 * raw.count) / 6)
            return first < end ? Array(encoded[first..<end]) : []
        }
    }

    /// Standard base64 with `=` padding.
    static func base64(_ raw: [UInt8]) -> [UInt8] {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var out: [UInt8] = []
        out.reserveCapacity((raw.count + 2) / 3 * 4)
        var i = 0
        while i < raw.count {
            let b0 = UInt32(raw[i]), b1 = i + 1 < raw.count ? UInt32(raw[i + 1]) : 0, b2 = i + 2 < raw.count ? UInt32(raw[i + 2]) : 0
            let n = b0 << 16 | b1 << 8 | b2
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(i + 1 < raw.count ? alphabet[Int(n >> 6 & 63)] : UInt8(ascii: "="))
            out.append(i + 2 < raw.count ? alphabet[Int(n & 63)] : UInt8(ascii: "="))
            i += 3
        }
        return out
    }

    /// Base64 in the URL-safe alphabet (`-` and `_` for `+` and `/`).
    static func urlSafe(_ b: [UInt8]) -> [UInt8] {
        b.map { $0 == UInt8(ascii: "+") ? UInt8(ascii: "-") : $0 == UInt8(ascii: "/") ? UInt8(ascii: "_") : $0 }
    }

    /// `%XX` for every byte but `A-Za-z0-9-._~` (a space as `+` when `plusForSpace`, as forms do).
    static func percentEncoded(_ raw: [UInt8], upper: Bool, plusForSpace: Bool) -> [UInt8] {
        let digits = Array((upper ? "0123456789ABCDEF" : "0123456789abcdef").utf8)
        var out: [UInt8] = []
        for b in raw {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(b)
            case UInt8(ascii: " ") where plusForSpace:
                out.append(UInt8(ascii: "+"))
            default:
                out += [UInt8(ascii: "%"), digits[Int(b >> 4)], digits[Int(b & 15)]]
            }
        }
        return out
    }

    /// The secret inside a JSON string: `"`, `\` and `/` escaped (`\/` is how some servers write `/`).
    static func jsonEscaped(_ raw: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        for b in raw {
            if b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") || b == UInt8(ascii: "/") { out.append(UInt8(ascii: "\\")) }
            out.append(b)
        }
        return out
    }

    /// Marks every occurrence of `form` in `text`, and a start of it (at least `shortestCutForm` bytes)
    /// that ends the text.
    static func markOccurrences(of form: [UInt8], in text: [UInt8], _ hidden: inout [Bool]) {
        let m = form.count
        guard m > 0 else { return }
        if text.count >= m {
            for start in 0...(text.count - m) where text[start] == form[0] {
                if text[start..<(start + m)].elementsEqual(form) {
                    for j in start..<(start + m) { hidden[j] = true }
                }
            }
        }
        var length = min(m - 1, text.count)
        while length >= shortestCutForm {
            if text[(text.count - length)...].elementsEqual(form[..<length]) {
                for j in (text.count - length)..<text.count { hidden[j] = true }
                break
            }
            length -= 1
        }
    }

    /// Marks the value of every `authorization` (any case) followed by `:` or `=`, with quotes,
    /// backslashes and blanks allowed around the separator. The value runs to a line break, quote,
    /// backslash, `,`, `;`, `&`, `<`, `}` or `]`; its first word (the scheme) stays when a credential
    /// follows it.
    static func markAuthorizationValues(_ text: [UInt8], _ hidden: inout [Bool]) {
        let name = Array("authorization".utf8)
        guard text.count > name.count else { return }
        func isLetter(_ b: UInt8) -> Bool { (b | 0x20) >= UInt8(ascii: "a") && (b | 0x20) <= UInt8(ascii: "z") }
        func isDecoration(_ b: UInt8) -> Bool {
            b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") || b == UInt8(ascii: "\"") || b == UInt8(ascii: "'")
                || b == UInt8(ascii: "\\")
        }
        func isEnd(_ b: UInt8) -> Bool {
            switch b {
            case 0x0A, 0x0D, UInt8(ascii: "\""), UInt8(ascii: "'"), UInt8(ascii: "\\"), UInt8(ascii: ","), UInt8(ascii: ";"),
                 UInt8(ascii: "&"), UInt8(ascii: "<"), UInt8(ascii: "}"), UInt8(ascii: "]"):
                return true
            default: return false
            }
        }
        var start = 0
        while start + name.count <= text.count {
            defer { start += 1 }
            guard zip(text[start..<(start + name.count)], name).allSatisfy({ ($0 | 0x20) == $1 }) else { continue }
            var i = start + name.count
            if i < text.count, isLetter(text[i]) { continue }  // a longer word
            while i < text.count, isDecoration(text[i]) { i += 1 }
            guard i < text.count, text[i] == UInt8(ascii: ":") || text[i] == UInt8(ascii: "=") else { continue }
            i += 1
            while i < text.count, isDecoration(text[i]) { i += 1 }
            let valueStart = i
            while i < text.count, !isEnd(text[i]) { i += 1 }
            var valueEnd = i
            while valueEnd > valueStart, text[valueEnd - 1] == UInt8(ascii: " ") || text[valueEnd - 1] == UInt8(ascii: "\t") {
                valueEnd -= 1
            }
            guard valueStart < valueEnd else { continue }
            // The scheme stays when a credential follows it ("Basic [redacted]").
            var from = valueStart
            if let space = text[valueStart..<valueEnd].firstIndex(where: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }) {
                from = space + 1
                while from < valueEnd, text[from] == UInt8(ascii: " ") || text[from] == UInt8(ascii: "\t") { from += 1 }
            }
            for j in from..<valueEnd { hidden[j] = true }
        }
    }
}
