// libFuzzer entry over the parsing core: Register.ingest on the input as a drain body, and the
// header, logfmt, value and timestamp parsers on the input as one line. Built by scripts/fuzz
// together with Sources/L2metCore/*.swift (not a SwiftPM target).

/// A fixed hash seed keeps runs reproducible (the server draws one per process).
private let register = Register(deadline: 2, hashSeed: 0x243F_6A88_85A3_08D3)
private var runs = 0
/// Measurements taken into `register` since it was last emptied.
private var ingested = 0
/// 2009-02-13T23:31:30Z.
private let now: Int64 = 1_234_567_890_000_000

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let selector = size > 0 ? input[0] : 0
    var options = DrainOptions(token: "t", resolution: Int32(selector % 7) * 10 + 1)
    if selector & 0x10 != 0 { options.prefix = "pre fix" }
    if selector & 0x20 != 0 { options.sourcePrefix = "sp" }

    let counts = register.ingest(input, options: options, nowMicros: now)
    precondition(counts.lines <= counts.frames)
    precondition(counts.lines + counts.count(of: .badHeader) == counts.frames)
    precondition(counts.measurements >= 0 && counts.brokenFrames >= 0)
    ingested += counts.measurements
    precondition(register.bucketCount <= ingested)

    // The pieces on their own.
    if let header = SyslogHeader.parse(input) {
        precondition(header.text.count <= size)
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: max(1, header.text.count), alignment: 8)
        var line = LineMetrics()
        Conventions.read(text: header.text, isRouter: selector & 1 == 1, scratch: scratch, into: &line)
        for m in line.metrics { precondition(!m.value.isNaN) }
        scratch.deallocate()
    }
    var scanner = LogfmtScanner(input)
    var pairs = 0
    while let pair = scanner.next() {
        pairs += 1
        precondition(pair.key.count + (pair.value?.count ?? 0) <= size)
        if let v = pair.value { checkValue(v) }
    }
    precondition(pairs <= size)
    checkValue(input)
    _ = RFC3339.parseMicros(input)
    var reader = FrameReader(input)
    while let m = reader.next() { precondition(m.count > 0 && m.count <= size) }

    runs += 1
    if runs % 256 == 0 || register.approximateBytes > 16 << 20 {
        var seen = Set<String>()
        var total = 0
        for (key, data) in register.takeAll() {
            total += data.count
            precondition(seen.insert(key.storeKey).inserted, "duplicate bucket \(key)")
            precondition(key.name.utf8.count <= 255 && key.source.utf8.count <= 255)
            precondition(key.name.utf8.allSatisfy { $0 < 0x80 && $0 != UInt8(ascii: "|") })
            precondition(data.count > 0)
            precondition(BucketKey(storeKey: key.storeKey) == key)
            if key.kind == .measurement { precondition(data.sketch == nil ? data.values.count == data.count : data.values.isEmpty && data.count > BucketData.exactLimit) }
        }
        // Every measurement went into exactly one bucket.
        precondition(total == ingested, "\(total) in buckets, \(ingested) ingested")
        ingested = 0
    }
    return 0
}

/// A value that parses is finite and exactly what `Double(String)` makes of its number part.
private func checkValue(_ v: UnsafeRawBufferPointer) {
    guard let parsed = ValueParser.parse(v) else { return }
    precondition(parsed.value.isFinite)
    let number = String(decoding: UnsafeRawBufferPointer(rebasing: v[0..<(v.count - parsed.units.count)]), as: UTF8.self)
    let reference = Double(number)
    precondition(reference?.bitPattern == parsed.value.bitPattern, "\(number): \(parsed.value) != \(String(describing: reference))")
}
