/// The receiver's in-memory aggregation: drain bodies in (frames → RFC5424 header → logfmt →
/// conventions), buckets out. Not thread-safe; the server wraps each register in a lock.
///
/// The per-line path allocates nothing when a line's buckets already exist: names and sources are
/// sanitised into fixed scratch buffers and buckets are found by their bytes (`BucketTable`).
public final class Register {
    /// Lines whose bucket satisfies `now >= bucket time + deadline * resolution` are dropped (late).
    public let deadline: Int
    /// A timestamp more than this far ahead of the receive time is bucketed at the receive time.
    public static let maxFutureMicros: Int64 = 60_000_000

    private struct ContextKey: Hashable {
        var token: String
        var resolution: Int32
    }

    private let table = BucketTable()
    /// Seeds the bucket table's hash. Random per process by default, so nobody can work out names
    /// whose buckets pile up in one run of slots (each insert and lookup would then walk them all).
    private let hashSeed: UInt64
    private let limiter: SeriesLimiter?
    private var contexts: [ContextKey: Int32] = [:]
    private var heldBytes = 0
    private var line = LineMetrics()

    /// Sanitised names and sources are built here (at most 255 bytes each, with room past the end for
    /// the whole-word reads of `ByteHash.hash` and `BucketTable.same` with `padded`).
    private let nameBuffer = Register.zeroedBuffer(512)
    private let sourceBuffer = Register.zeroedBuffer(512)
    private let unitsBuffer = UnsafeMutablePointer<UInt8>.allocate(capacity: 512)
    /// The last TIMESTAMP field read and its value: lines of one body mostly share a timestamp.
    private let cachedTimestampField = UnsafeMutablePointer<UInt8>.allocate(capacity: Register.cachedTimestampCapacity)
    private var cachedTimestampLength = -1
    private var cachedTimestamp: Int64?
    private static let cachedTimestampCapacity = 64
    /// Unescaped quoted values of one line (grown to the longest line seen).
    private var scratch: UnsafeMutableRawPointer
    private var scratchCapacity: Int

    nonisolated(unsafe) private static let dot = Conventions.constant(".")

    /// - Parameter limiter: the drains' series limits, shared by every register of the process; nil:
    ///   no limit.
    public convenience init(deadline: Int, limiter: SeriesLimiter? = nil) {
        self.init(deadline: deadline, hashSeed: ByteHash.processSeed, limiter: limiter)
    }

    /// A register whose bucket hash is seeded with `hashSeed` (tests).
    init(deadline: Int, hashSeed: UInt64, limiter: SeriesLimiter? = nil) {
        self.deadline = deadline
        self.hashSeed = hashSeed
        self.limiter = limiter.flatMap { $0.isUnlimited ? nil : $0 }
        scratchCapacity = 1 << 14
        scratch = .allocate(byteCount: scratchCapacity, alignment: 8)
    }

    deinit {
        nameBuffer.deallocate()
        sourceBuffer.deallocate()
        unitsBuffer.deallocate()
        cachedTimestampField.deallocate()
        scratch.deallocate()
    }

    /// Buckets held.
    public var bucketCount: Int { table.count }

    /// The bucket table's slots and arena bytes (tests).
    var tableCapacity: (slots: Int, arenaBytes: Int) { table.capacity }

    /// The most slots any bucket lookup walks past its home slot (tests).
    var longestProbe: Int { table.longestProbe() }

    /// Approximate bytes held by the buckets.
    public var approximateBytes: Int { heldBytes }

    /// Returns every bucket and empties the register.
    public func takeAll() -> [(key: BucketKey, data: BucketData)] {
        var out: [(key: BucketKey, data: BucketData)] = []
        out.reserveCapacity(table.count)
        for i in 0..<table.count { out.append((key: table.keys[i], data: table.data[i])) }
        table.removeAll()
        contexts.removeAll(keepingCapacity: true)
        heldBytes = 0
        return out
    }

    public func ingest(_ body: [UInt8], options: DrainOptions, nowMicros: Int64,
                       allowance: ValueAllowance = .unlimited) -> IngestCounts {
        body.withUnsafeBytes { ingest($0, options: options, nowMicros: nowMicros, allowance: allowance) }
    }

    /// Takes a drain body into buckets: at most `allowance.values` values, the rest dropped for
    /// `allowance.refusal`. Values dropped for one of the drain's limits are reported in its own
    /// metrics (`l2met.dropped`, the reason as source).
    public func ingest(_ body: UnsafeRawBufferPointer, options: DrainOptions, nowMicros: Int64,
                       allowance: ValueAllowance = .unlimited) -> IngestCounts {
        var counts = IngestCounts()
        var remaining = allowance.values
        guard body.count > 0 else { return counts }
        let resolution = Int64(max(1, options.resolution))
        let context = contextIndex(options.token, resolution)
        let contextSeed = ByteHash.mix(hashSeed, UInt64(UInt32(bitPattern: context)))
        let (prefixBytes, sourcePrefixBytes) = Self.prefixes(options)
        let nowSeconds = Self.floorDiv(nowMicros, 1_000_000)
        let deadlineSpan = Int64(deadline) * resolution

        prefixBytes.withUnsafeBytes { prefix in
            sourcePrefixBytes.withUnsafeBytes { sourcePrefix in
                var reader = FrameReader(body)
                while let msg = reader.next() {
                    counts.frames += 1
                    guard let header = SyslogHeader.parse(msg, parseTimestamp: false) else {
                        counts.drop(.badHeader)
                        continue
                    }
                    counts.lines += 1
                    let proc = header.procID
                    let isRouter = proc.count == 6 && Conventions.equals(proc, "router")
                    if header.text.count > scratchCapacity { growScratch(header.text.count) }
                    Conventions.read(text: header.text, isRouter: isRouter, scratch: scratch, into: &line)
                    counts.drop(.badValue, line.badValues)
                    counts.drop(.emptyName, line.emptyNames)
                    if line.metrics.isEmpty { continue }

                    var timestamp = readTimestamp(header.timestampField) ?? nowMicros
                    if timestamp > nowMicros &+ Self.maxFutureMicros { timestamp = nowMicros }
                    let time = Self.floorDiv(Self.floorDiv(timestamp, 1_000_000), resolution) * resolution
                    if nowSeconds >= time &+ deadlineSpan {
                        counts.drop(.late, line.metrics.count)
                        continue
                    }

                    let sourceLength = writeSource(sourcePrefix, line.source)
                    if sourceLength > NameSanitizer.maxLength {
                        // Cut, it would merge with every other source of the same first 255 characters.
                        counts.drop(.tooLong, line.metrics.count)
                        continue
                    }
                    let lineSeed = ByteHash.mix(ByteHash.hash(sourceBuffer, sourceLength, seed: contextSeed, padded: true),
                                                UInt64(bitPattern: time))
                    for m in line.metrics {
                        if remaining <= 0 {
                            counts.drop(allowance.refusal)
                            continue
                        }
                        switch take(m, prefix: prefix, sourceLength: sourceLength, lineSeed: lineSeed, context: context,
                                    time: time, timestamp: timestamp, token: options.token, resolution: resolution,
                                    oldest: nowSeconds - deadlineSpan) {
                        case .taken:
                            counts.measurements += 1
                            remaining -= 1
                        case .tooLong: counts.drop(.tooLong)
                        case .overLimit: counts.drop(.seriesLimit)
                        }
                    }
                }
                counts.brokenFrames = reader.brokenFrames
            }
        }
        for reason in DropReason.drainLimits {
            let overLimit = counts.count(of: reason)
            if overLimit > 0 {
                // The drain's owner sees it where they look: in their own metrics.
                _ = addCounters([(Self.droppedName, Double(overLimit))], source: Self.limitSources[reason], options: options,
                                nowMicros: nowMicros, limited: false)
            }
        }
        releaseOversizedScratch()
        return counts
    }

    /// `l2met.dropped`, source `series_limit` (or `rate_limit`, `store_limit`): what a drain lost to
    /// its limits, in its own metrics.
    nonisolated(unsafe) static let droppedName = Conventions.constant("l2met.dropped")
    nonisolated(unsafe) static let limitSources: [DropReason: UnsafeRawBufferPointer] = [
        .seriesLimit: Conventions.constant("series_limit"),
        .rateLimit: Conventions.constant("rate_limit"),
        .storeLimit: Conventions.constant("store_limit"),
    ]

    /// Adds a drain's report of its own losses (`DrainLoss`) as the counters `logshuttle.dropped` and
    /// `logshuttle.lost`, bucketed as a line of that drain with no `source=` (so the name and source
    /// prefixes apply, as for `logplex.l10`) at the receive time `nowMicros`. Counts of 0 add nothing.
    /// Returns the counters taken.
    @discardableResult
    public func add(_ loss: DrainLoss, options: DrainOptions, nowMicros: Int64) -> Int {
        guard !loss.isEmpty else { return 0 }
        return addCounters([(DrainLoss.droppedName, Double(loss.dropped)), (DrainLoss.lostName, Double(loss.lost))],
                           source: nil, options: options, nowMicros: nowMicros, limited: true)
    }

    /// Adds counters (those of value 0 are left out) as a line of the drain with `source` (or none) at
    /// the receive time: prefixes apply. `limited` false: past the drain's series limit too (the
    /// report of that limit). Returns the counters taken.
    private func addCounters(_ counters: [(name: UnsafeRawBufferPointer, value: Double)], source: UnsafeRawBufferPointer?,
                             options: DrainOptions, nowMicros: Int64, limited: Bool) -> Int {
        let resolution = Int64(max(1, options.resolution))
        let context = contextIndex(options.token, resolution)
        let contextSeed = ByteHash.mix(hashSeed, UInt64(UInt32(bitPattern: context)))
        let (prefixBytes, sourcePrefixBytes) = Self.prefixes(options)
        let time = Self.floorDiv(Self.floorDiv(nowMicros, 1_000_000), resolution) * resolution
        var taken = 0
        prefixBytes.withUnsafeBytes { prefix in
            sourcePrefixBytes.withUnsafeBytes { sourcePrefix in
                let sourceLength = writeSource(sourcePrefix, source)
                guard sourceLength <= NameSanitizer.maxLength else { return }
                let lineSeed = ByteHash.mix(ByteHash.hash(sourceBuffer, sourceLength, seed: contextSeed, padded: true),
                                            UInt64(bitPattern: time))
                for (name, value) in counters where value > 0 {
                    let m = LineMetric(kind: .counter, namePrefix: Conventions.empty, name: name, value: value,
                                       units: Conventions.empty)
                    if take(m, prefix: prefix, sourceLength: sourceLength, lineSeed: lineSeed, context: context,
                            time: time, timestamp: nowMicros, token: options.token, resolution: resolution,
                            oldest: limited ? time : nil) == .taken {
                        taken += 1
                    }
                }
            }
        }
        return taken
    }

    /// The index of a (token, resolution) pair among the buckets held, added when new.
    private func contextIndex(_ token: String, _ resolution: Int64) -> Int32 {
        let key = ContextKey(token: token, resolution: Int32(resolution))
        if let c = contexts[key] { return c }
        let c = Int32(contexts.count)
        contexts[key] = c
        return c
    }

    /// A request's name prefix (sanitised, with its dot) and source prefix (sanitised), once per request.
    private static func prefixes(_ options: DrainOptions) -> (name: [UInt8], source: [UInt8]) {
        var prefixBytes: [UInt8] = []
        if let prefix = options.prefix, !prefix.isEmpty {
            prefixBytes = Array(NameSanitizer.sanitize(prefix).utf8)
            prefixBytes.append(0x2E)
        }
        var sourcePrefixBytes: [UInt8] = []
        if let sp = options.sourcePrefix, !sp.isEmpty {
            sourcePrefixBytes = Array(NameSanitizer.sanitize(sp).utf8)
        }
        return (prefixBytes, sourcePrefixBytes)
    }

    /// Writes a line's source, sanitised and prefixed, into `sourceBuffer`; returns its length.
    @inline(__always)
    private func writeSource(_ sourcePrefix: UnsafeRawBufferPointer, _ source: UnsafeRawBufferPointer?) -> Int {
        var sourceLength = 0
        if sourcePrefix.count > 0 {
            sourceLength = NameSanitizer.appendRaw(sourcePrefix, to: sourceBuffer, count: 0, limit: Self.tooLong)
            if let s = source, s.count > 0 {
                sourceLength = NameSanitizer.appendRaw(Self.dot, to: sourceBuffer, count: sourceLength, limit: Self.tooLong)
                sourceLength = NameSanitizer.append(s, to: sourceBuffer, count: sourceLength, limit: Self.tooLong)
            }
        } else if let s = source {
            sourceLength = NameSanitizer.append(s, to: sourceBuffer, count: 0, limit: Self.tooLong)
        }
        return sourceLength
    }

    /// One byte past the longest name or source: written up to here, a longer one is seen, not cut.
    private static let tooLong = NameSanitizer.maxLength + 1

    /// What `take` did with a metric.
    private enum Taken {
        case taken
        /// Its name (with the prefix) is too long: cut, it would merge with every name of the same beginning.
        case tooLong
        /// It would be a new series of its drain past the drain's series limit for that interval.
        case overLimit
    }

    /// Adds one metric to its bucket (made when new, if the drain's series limit allows: `oldest` is
    /// the oldest bucket time still taken, nil for no limit). The source is already in `sourceBuffer`;
    /// `lineSeed` hashes it with the context and the bucket time.
    @inline(__always)
    private func take(_ m: LineMetric, prefix: UnsafeRawBufferPointer, sourceLength: Int, lineSeed: UInt64,
                      context: Int32, time: Int64, timestamp: Int64, token: String, resolution: Int64,
                      oldest: Int64?) -> Taken {
        let limit = (m.kind == .measurement ? NameSanitizer.measurementMaxLength : NameSanitizer.maxLength) + 1
        var nameLength = NameSanitizer.appendRaw(prefix, to: nameBuffer, count: 0, limit: limit)
        nameLength = NameSanitizer.appendRaw(m.namePrefix, to: nameBuffer, count: nameLength, limit: limit)
        nameLength = NameSanitizer.append(m.name, to: nameBuffer, count: nameLength, limit: limit)
        if nameLength >= limit { return .tooLong }
        var units = m.units
        if units.count > 0, !Self.isPlainUnits(units) {
            let n = NameSanitizer.append(units, to: unitsBuffer, count: 0)
            units = UnsafeRawBufferPointer(start: unitsBuffer, count: n)
        }
        var h = ByteHash.hash(nameBuffer, nameLength, seed: lineSeed, padded: true)
        if units.count > 0 { h = ByteHash.hash(units, seed: h) }
        h = ByteHash.finish(ByteHash.mix(h, UInt64(m.kind.rawValue)))
        let (found, slot) = table.find(hash: h, context: context, kind: m.kind, time: time,
                                       name: nameBuffer, nameLength: nameLength,
                                       source: sourceBuffer, sourceLength: sourceLength, units: units)
        let index: Int
        if let found {
            index = found
        } else {
            if let limiter, let oldest {
                // A series hash of the process (not of this register's contexts), so every register agrees.
                var series = ByteHash.hash(nameBuffer, nameLength, seed: Self.seriesSeed, padded: true)
                series = ByteHash.hash(sourceBuffer, sourceLength, seed: series, padded: true)
                if units.count > 0 { series = ByteHash.hash(units, seed: series) }
                series = ByteHash.finish(ByteHash.mix(series, UInt64(m.kind.rawValue)))
                if !limiter.admit(token: token, series: series, time: time, oldest: oldest) { return .overLimit }
            }
            let key = BucketKey(
                token: token,
                name: String(decoding: UnsafeBufferPointer(start: nameBuffer, count: nameLength), as: UTF8.self),
                source: String(decoding: UnsafeBufferPointer(start: sourceBuffer, count: sourceLength), as: UTF8.self),
                kind: m.kind,
                units: String(decoding: units, as: UTF8.self),
                resolution: Int32(resolution), time: time)
            index = table.insert(slot: slot, hash: h, context: context, kind: m.kind, time: time,
                                 name: nameBuffer, nameLength: nameLength,
                                 source: sourceBuffer, sourceLength: sourceLength, units: units, key: key)
            heldBytes += 160 + nameLength + sourceLength + units.count + token.utf8.count
        }
        // A sketched measurement no longer grows (its 32 KiB bound was counted as exact values).
        if table.data[index].add(m.value, timestamp: timestamp) { heldBytes += 8 }
        return .taken
    }

    private static let seriesSeed: UInt64 = 0x6C32_6D65_745F_7365

    private static func zeroedBuffer(_ capacity: Int) -> UnsafeMutablePointer<UInt8> {
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        p.initialize(repeating: 0, count: capacity)
        return p
    }

    /// Per-line buffers keep the size of the largest line seen, which a hostile body makes huge (a
    /// 10 MB line of `count#a` pairs: 1.3 M line metrics, 80 MB, kept by every register it went
    /// through). After such a body they go back to their usual size.
    private func releaseOversizedScratch() {
        if line.metrics.capacity > Self.maxKeptLineMetrics { line = LineMetrics() }
        if scratchCapacity > Self.maxKeptScratchBytes {
            scratch.deallocate()
            scratchCapacity = 1 << 14
            scratch = .allocate(byteCount: scratchCapacity, alignment: 8)
        }
    }

    static let maxKeptLineMetrics = 4096
    static let maxKeptScratchBytes = 1 << 20

    /// Capacities of the per-line buffers (tests).
    var scratchCapacities: (lineMetrics: Int, scratchBytes: Int) { (line.metrics.capacity, scratchCapacity) }

    private func growScratch(_ count: Int) {
        scratch.deallocate()
        scratchCapacity = count
        scratch = .allocate(byteCount: scratchCapacity, alignment: 8)
    }

    /// The timestamp of a TIMESTAMP field, through a one-entry cache.
    @inline(__always)
    private func readTimestamp(_ field: UnsafeRawBufferPointer) -> Int64? {
        if field.count == cachedTimestampLength, let base = field.baseAddress,
           BucketTable.same(cachedTimestampField, base.assumingMemoryBound(to: UInt8.self), field.count) {
            return cachedTimestamp
        }
        let value: Int64? = field.count == 1 && field[0] == 0x2D ? nil : RFC3339.parseMicros(field)
        if field.count <= Self.cachedTimestampCapacity, let base = field.baseAddress {
            cachedTimestampField.update(from: base.assumingMemoryBound(to: UInt8.self), count: field.count)
            cachedTimestampLength = field.count
            cachedTimestamp = value
        }
        return value
    }

    @inline(__always)
    static func isPlainUnits(_ u: UnsafeRawBufferPointer) -> Bool {
        for b in u {
            let lower = b | 0x20
            if !((lower >= 0x61 && lower <= 0x7A) || b == 0x25) { return false }
        }
        return u.count <= 255
    }

    @inline(__always)
    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }
}
