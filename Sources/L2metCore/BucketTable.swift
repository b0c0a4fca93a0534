/// An open-addressing hash table of buckets looked up by bytes, so a measurement whose bucket
/// exists costs no String and no allocation. The key's bytes (name, source, units) live in one
/// arena and are compared bytewise; the rest of the key (drain context, kind, time) is stored
/// inline. `BucketKey` Strings are made once, when a bucket first appears.
final class BucketTable {
    struct Entry {
        var hash: UInt64
        var time: Int64
        var arenaOffset: Int
        var context: Int32
        var nameLength: UInt16
        var sourceLength: UInt16
        var unitsLength: UInt8
        var kind: MetricKind
    }

    private(set) var entries: [Entry] = []
    var data: [BucketData] = []
    private(set) var keys: [BucketKey] = []

    private var slots: UnsafeMutablePointer<Int32>
    private var slotMask: Int
    private var arena: UnsafeMutablePointer<UInt8>
    private var arenaCapacity: Int
    private var arenaUsed = 0
    /// Readable bytes past the arena's capacity, so key comparisons may read whole words (`same(…padded:)`).
    private static let arenaSlack = 8

    init() {
        slotMask = Self.initialSlots - 1
        slots = .allocate(capacity: slotMask + 1)
        slots.initialize(repeating: -1, count: slotMask + 1)
        arenaCapacity = Self.initialArena
        arena = .allocate(capacity: arenaCapacity + Self.arenaSlack)
        arena.initialize(repeating: 0, count: arenaCapacity + Self.arenaSlack)
    }

    deinit {
        slots.deallocate()
        arena.deallocate()
    }

    var count: Int { entries.count }

    /// Forgets every bucket. Capacity is kept while the table was used (the next flush interval likely
    /// needs as much); when it held under an eighth of its slots (a flood is over), it goes back to its
    /// first size, so memory is given back.
    func removeAll() {
        if slotMask + 1 > Self.initialSlots && entries.count * 8 < slotMask + 1 {
            slots.deallocate()
            slotMask = Self.initialSlots - 1
            slots = .allocate(capacity: slotMask + 1)
            arena.deallocate()
            arenaCapacity = Self.initialArena
            arena = .allocate(capacity: arenaCapacity + Self.arenaSlack)
            arena.initialize(repeating: 0, count: arenaCapacity + Self.arenaSlack)
            entries = []
            data = []
            keys = []
        } else {
            entries.removeAll(keepingCapacity: true)
            data.removeAll(keepingCapacity: true)
            keys.removeAll(keepingCapacity: true)
        }
        slots.initialize(repeating: -1, count: slotMask + 1)
        arenaUsed = 0
    }

    private static let initialSlots = 1024
    private static let initialArena = 1 << 16

    /// Slots and arena bytes held (tests: memory is given back after a flood).
    var capacity: (slots: Int, arenaBytes: Int) { (slotMask + 1, arenaCapacity) }

    /// The index of the bucket for these bytes, or nil.
    @inline(__always)
    func find(hash: UInt64, context: Int32, kind: MetricKind, time: Int64,
              name: UnsafePointer<UInt8>, nameLength: Int,
              source: UnsafePointer<UInt8>, sourceLength: Int,
              units: UnsafeRawBufferPointer) -> (found: Int?, slot: Int) {
        var s = Int(truncatingIfNeeded: hash) & slotMask
        while true {
            let i = slots[s]
            if i < 0 { return (nil, s) }
            let e = entries[Int(i)]
            if e.hash == hash, e.time == time, e.context == context, e.kind == kind,
               Int(e.nameLength) == nameLength, Int(e.sourceLength) == sourceLength, Int(e.unitsLength) == units.count {
                let a = arena + e.arenaOffset
                if Self.same(a, name, nameLength, padded: true), Self.same(a + nameLength, source, sourceLength, padded: true),
                   Self.same(a + nameLength + sourceLength, units) {
                    return (Int(i), s)
                }
            }
            s = (s + 1) & slotMask
        }
    }

    /// Whether the `n` bytes at `a` and `b` are equal. With `padded`, both have at least 7 readable
    /// bytes after `n` (the arena and the register's name and source buffers) and the tail is one
    /// masked word instead of a byte loop.
    @inline(__always)
    static func same(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int, padded: Bool = false) -> Bool {
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        var i = 0
        while i + 8 <= n {
            if ra.loadUnaligned(fromByteOffset: i, as: UInt64.self) != rb.loadUnaligned(fromByteOffset: i, as: UInt64.self) {
                return false
            }
            i += 8
        }
        if i == n { return true }
        if padded {
            let x = UInt64(littleEndian: ra.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                ^ UInt64(littleEndian: rb.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            return x & ByteHash.lowBytes(n - i) == 0
        }
        while i < n {
            if a[i] != b[i] { return false }
            i += 1
        }
        return true
    }

    @inline(__always)
    static func same(_ a: UnsafePointer<UInt8>, _ b: UnsafeRawBufferPointer) -> Bool {
        for i in 0..<b.count where a[i] != b[i] { return false }
        return true
    }

    /// Adds a bucket in `slot` (from a failed `find`) and returns its index.
    func insert(slot: Int, hash: UInt64, context: Int32, kind: MetricKind, time: Int64,
                name: UnsafePointer<UInt8>, nameLength: Int,
                source: UnsafePointer<UInt8>, sourceLength: Int,
                units: UnsafeRawBufferPointer, key: BucketKey) -> Int {
        let need = nameLength + sourceLength + units.count
        if arenaUsed + need > arenaCapacity {
            var newCapacity = arenaCapacity * 2
            while arenaUsed + need > newCapacity { newCapacity *= 2 }
            let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity + Self.arenaSlack)
            grown.initialize(repeating: 0, count: newCapacity + Self.arenaSlack)
            grown.update(from: arena, count: arenaUsed)
            arena.deallocate()
            arena = grown
            arenaCapacity = newCapacity
        }
        let offset = arenaUsed
        (arena + offset).update(from: name, count: nameLength)
        (arena + offset + nameLength).update(from: source, count: sourceLength)
        for i in 0..<units.count { arena[offset + nameLength + sourceLength + i] = units[i] }
        arenaUsed += need
        let index = entries.count
        entries.append(Entry(hash: hash, time: time, arenaOffset: offset, context: context,
                             nameLength: UInt16(nameLength), sourceLength: UInt16(sourceLength),
                             unitsLength: UInt8(units.count), kind: kind))
        data.append(BucketData(kind: kind))
        keys.append(key)
        slots[slot] = Int32(index)
        if entries.count * 2 > slotMask + 1 { grow() }
        return index
    }

    /// The farthest any entry sits from its home slot (tests: a clustered table walks this far).
    func longestProbe() -> Int {
        var longest = 0
        for s in 0...slotMask where slots[s] >= 0 {
            let home = Int(truncatingIfNeeded: entries[Int(slots[s])].hash) & slotMask
            longest = max(longest, (s - home) & slotMask)
        }
        return longest
    }

    private func grow() {
        let newMask = (slotMask + 1) * 2 - 1
        slots.deallocate()
        slots = .allocate(capacity: newMask + 1)
        slots.initialize(repeating: -1, count: newMask + 1)
        slotMask = newMask
        for (i, e) in entries.enumerated() {
            var s = Int(truncatingIfNeeded: e.hash) & slotMask
            while slots[s] >= 0 { s = (s + 1) & slotMask }
            slots[s] = Int32(i)
        }
    }
}

/// A fast 64-bit hash of bytes (multiply-rotate over 8-byte words), for the bucket table only.
enum ByteHash {
    static let multiplier: UInt64 = 0x9E37_79B9_7F4A_7C15

    /// A random seed drawn once per process: the hash is only as safe against chosen collisions as
    /// the seed is secret (a fixed seed let a client pick names that all share one slot).
    static let processSeed: UInt64 = UInt64.random(in: .min ... .max)

    @inline(__always)
    static func mix(_ h: UInt64, _ word: UInt64) -> UInt64 {
        let x = (h ^ word) &* multiplier
        return x ^ (x >> 29)
    }

    /// Final avalanche (MurmurHash3's fmix64), so the low bits used for the slot depend on every input bit.
    @inline(__always)
    static func finish(_ h: UInt64) -> UInt64 {
        var x = h
        x ^= x >> 33
        x = x &* 0xFF51_AFD7_ED55_8CCD
        x ^= x >> 33
        return x
    }

    /// The hash of the `n` bytes at `p`. With `padded`, `p` has at least 7 readable bytes after `n`
    /// and the tail is one masked word instead of a byte loop (the same hash either way).
    @inline(__always)
    static func hash(_ p: UnsafePointer<UInt8>, _ n: Int, seed: UInt64, padded: Bool = false) -> UInt64 {
        var h = seed ^ UInt64(n)
        var i = 0
        let raw = UnsafeRawPointer(p)
        while i + 8 <= n {
            h = mix(h, raw.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            i += 8
        }
        if i < n {
            var tail: UInt64 = 0
            if padded {
                tail = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) & lowBytes(n - i)
            } else {
                var shift: UInt64 = 0
                while i < n {
                    tail |= UInt64(p[i]) << shift
                    shift += 8
                    i += 1
                }
            }
            h = mix(h, tail)
        }
        return h
    }

    /// A mask of the low `count` bytes of a word (`count` in 1...7).
    @inline(__always)
    static func lowBytes(_ count: Int) -> UInt64 {
        (1 &<< UInt64(truncatingIfNeeded: count &* 8)) &- 1
    }

    @inline(__always)
    static func hash(_ b: UnsafeRawBufferPointer, seed: UInt64) -> UInt64 {
        guard let base = b.baseAddress else { return mix(seed, 0x5555) }
        return hash(base.assumingMemoryBound(to: UInt8.self), b.count, seed: seed)
    }
}
