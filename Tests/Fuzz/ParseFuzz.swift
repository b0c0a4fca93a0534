// libFuzzer entry over the parsing core: Register.ingest on the input as a drain body, and the
// header, logfmt, value and timestamp parsers on the input as one line. Built by scripts/fuzz
// together with Sources/L2metCore/*.swift (not a SwiftPM target).

private let register = Register(deadline: 2)
private var runs = 0
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
        if let v = pair.value, let parsed = ValueParser.parse(v) {
            precondition(parsed.value.isFinite)
        }
    }
    precondition(pairs <= size)
    _ = RFC3339.parseMicros(input)
    var reader = FrameReader(input)
    while let m = reader.next() { precondition(m.count > 0 && m.count <= size) }

    runs += 1
    if runs % 256 == 0 || register.approximateBytes > 16 << 20 {
        var seen = Set<String>()
        for (key, data) in register.takeAll() {
            precondition(seen.insert(key.storeKey).inserted, "duplicate bucket \(key)")
            precondition(key.name.utf8.count <= 255 && key.source.utf8.count <= 255)
            precondition(key.name.utf8.allSatisfy { $0 < 0x80 && $0 != UInt8(ascii: "|") })
            precondition(data.count > 0)
            precondition(BucketKey(storeKey: key.storeKey) == key)
        }
    }
    return 0
}
