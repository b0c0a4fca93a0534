/// The held counts one script call names (docs/redis-schema.md, "Held bytes"): per drain and hour of
/// bucket time, `P held:SHA1HEX(TOKEN):HOUR`, where TOKEN is a store key up to its first `|` and
/// HOUR = floor(TIME / 3600), TIME being its third field (`TOKEN|RESOLUTION|TIME|…`). Each count is
/// named once, in order of first use; each member gets the 1-based index of its count, or 0 when it is
/// not of that form (then it is not counted). The scripts add to and subtract from the counts they are
/// given; the names are made here, once per drain and call, not per bucket in Lua.
struct HeldCounts {
    let prefix: String
    /// The counts named so far, in order.
    private(set) var names: [String] = []
    private var byHead: [Substring: Int] = [:]
    private var byName: [String: Int] = [:]
    private var digests: [Substring: String] = [:]

    init(prefix: String) {
        self.prefix = prefix
    }

    /// The 1-based index in `names` of `member`'s count, naming it if it is new; 0 when `member` is
    /// not `TOKEN|RESOLUTION|TIME|…`.
    mutating func index(ofStoreKey member: String) -> Int {
        guard let (head, token, time) = Self.parse(member) else { return 0 }
        if let i = byHead[head] { return i }
        let digest: String
        if let d = digests[token] {
            digest = d
        } else {
            digest = SHA1.hex(Array(token.utf8))
            digests[token] = digest
        }
        let name = Self.name(prefix: prefix, tokenDigest: digest, time: time)
        let i: Int
        if let known = byName[name] {
            i = known
        } else {
            names.append(name)
            i = names.count
            byName[name] = i
        }
        byHead[head] = i
        return i
    }

    /// The name of `member`'s count, or nil.
    static func name(prefix: String, ofStoreKey member: String) -> String? {
        guard let (_, token, time) = parse(member) else { return nil }
        return name(prefix: prefix, tokenDigest: SHA1.hex(Array(token.utf8)), time: time)
    }

    /// The names of a drain's counts up to the hour: `P held:SHA1HEX(TOKEN):`.
    static func namePrefix(prefix: String, token: String) -> String {
        prefix + "held:" + SHA1.hex(Array(token.utf8)) + ":"
    }

    private static func name(prefix: String, tokenDigest: String, time: Int64) -> String {
        prefix + "held:" + tokenDigest + ":" + String(hour(of: time))
    }

    /// floor(time / 3600).
    static func hour(of time: Int64) -> Int64 {
        let (q, r) = time.quotientAndRemainder(dividingBy: 3600)
        return r < 0 ? q - 1 : q
    }

    /// `TOKEN|RESOLUTION|TIME|` (the head, which decides the count), TOKEN and TIME.
    private static func parse(_ member: String) -> (head: Substring, token: Substring, time: Int64)? {
        let u = member.utf8, bar = UInt8(ascii: "|")
        guard let a = u.firstIndex(of: bar),
              let b = u[u.index(after: a)...].firstIndex(of: bar),
              let c = u[u.index(after: b)...].firstIndex(of: bar),
              let time = Int64(member[u.index(after: b)..<c])
        else { return nil }
        return (member[...c], member[..<a], time)
    }
}
