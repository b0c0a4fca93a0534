/// One Redis command's arguments, packed in one byte buffer (binary-safe: sent with
/// `redisAppendCommandArgv`, never through a format string).
struct RedisCommand {
    private(set) var bytes: [UInt8] = []
    private(set) var lengths: [Int] = []

    init(_ args: String...) {
        for a in args { add(a) }
    }

    init(_ args: [String]) {
        for a in args { add(a) }
    }

    var count: Int { lengths.count }

    mutating func add(_ s: String) {
        bytes.append(contentsOf: s.utf8)
        lengths.append(s.utf8.count)
    }

    mutating func add(_ b: [UInt8]) {
        bytes.append(contentsOf: b)
        lengths.append(b.count)
    }

    mutating func add(_ i: Int64) { add(String(i)) }
    mutating func add(_ i: Int) { add(String(i)) }

    /// Adds one argument made of whatever `write` appends to the buffer.
    mutating func add(writing write: (inout [UInt8]) -> Void) {
        let before = bytes.count
        write(&bytes)
        lengths.append(bytes.count - before)
    }

    /// Adds the arguments of `other` after these.
    mutating func append(_ other: RedisCommand) {
        bytes.append(contentsOf: other.bytes)
        lengths.append(contentsOf: other.lengths)
    }

    mutating func reserve(bytes n: Int, arguments a: Int) {
        bytes.reserveCapacity(n)
        lengths.reserveCapacity(a)
    }
}

extension RedisCommand {
    /// The arguments as separate byte arrays (to re-send a command in another form).
    var arguments: [[UInt8]] {
        var out: [[UInt8]] = []
        var offset = 0
        for n in lengths {
            out.append(Array(bytes[offset..<(offset + n)]))
            offset += n
        }
        return out
    }
}
