/// One metric read from a line, before names are sanitised and prefixed. Byte ranges point into the
/// line or into the caller's scratch buffer.
public struct LineMetric {
    public var kind: MetricKind
    /// Bytes that go before `name` as they are (`router.`, or the whole of `logplex.l10`); may be empty.
    public var namePrefix: UnsafeRawBufferPointer
    /// The raw name (sanitised later).
    public var name: UnsafeRawBufferPointer
    public var value: Double
    /// Units: letters from the value, or the legacy `units=` value (sanitised later).
    public var units: UnsafeRawBufferPointer
}

/// What `Conventions.read` found in one line.
public struct LineMetrics {
    /// The metrics in line order.
    public var metrics: [LineMetric] = []
    /// The line's `source=` (the last one when there are several); nil when there is none.
    public var source: UnsafeRawBufferPointer?
    public var badValues = 0
    public var emptyNames = 0

    public init() {
        metrics.reserveCapacity(32)
    }

    @inline(__always)
    mutating func reset() {
        metrics.removeAll(keepingCapacity: true)
        source = nil
        badValues = 0
        emptyNames = 0
    }
}

/// The log conventions (design.md, "Conventions"): which pairs of a line's TEXT are metrics.
///
/// - `measure#NAME=V`, legacy `measure.NAME=V`, `count#NAME=V`, `sample#NAME=V`; a bare key is 1.
/// - `source=S` is the source of every metric of the line (the last `source=` wins).
/// - Heroku router lines (PROCID `router`): `connect`, `service`, `bytes` become measurements
///   `router.connect`, `router.service`, `router.bytes`; other router keys are ignored.
/// - Legacy runtime metrics: `source=heroku.N.DYNO.UUID measure=NAME val=V units=U` is the sample
///   NAME with source DYNO.
/// - `Error L10 (output buffer overflow): N messages dropped …` anywhere in the text is the counter
///   `logplex.l10` += N.
/// A value that does not parse drops its pair (`badValues`); a marker with no name drops its pair
/// (`emptyNames`).
public enum Conventions {
    /// The bytes of a string literal: in the binary's read-only data, never written or freed, so the
    /// `nonisolated(unsafe)` static constants made of them are safe to share between threads.
    static func constant(_ s: StaticString) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount)
    }
    nonisolated(unsafe) static let routerPrefix = constant("router.")
    nonisolated(unsafe) static let l10Name = constant("logplex.l10")
    nonisolated(unsafe) static let empty = UnsafeRawBufferPointer(start: nil, count: 0)

    @inline(__always)
    static func equals(_ a: UnsafeRawBufferPointer, _ s: StaticString) -> Bool {
        guard a.count == s.utf8CodeUnitCount else { return false }
        let p = s.utf8Start
        for i in 0..<a.count where a[i] != p[i] { return false }
        return true
    }

    @inline(__always)
    static func hasPrefix(_ a: UnsafeRawBufferPointer, _ s: StaticString) -> Bool {
        guard a.count >= s.utf8CodeUnitCount else { return false }
        let p = s.utf8Start
        for i in 0..<s.utf8CodeUnitCount where a[i] != p[i] { return false }
        return true
    }

    /// Reads `text` into `out` (reset first). `scratch` must have room for `text.count` bytes; it
    /// holds unescaped quoted values.
    public static func read(text: UnsafeRawBufferPointer, isRouter: Bool, scratch: UnsafeMutableRawPointer,
                            into out: inout LineMetrics) {
        out.reset()
        var scanner = LogfmtScanner(text)
        var scratchUsed = 0
        var previousWasError = false
        var legacyName: UnsafeRawBufferPointer?
        var legacyValue: UnsafeRawBufferPointer?
        var legacyUnits: UnsafeRawBufferPointer?

        while let pair = scanner.next() {
            let key = pair.key
            var value = pair.value
            if pair.escaped, let v = value {
                value = LogfmtScanner.unescape(v, into: scratch + scratchUsed)
                scratchUsed += v.count
            }
            guard key.count > 0 else {
                previousWasError = false
                continue
            }
            let first = key[0]
            var kind: MetricKind?
            var markerLength = 0
            switch first {
            case 0x6D:  // m
                if hasPrefix(key, "measure#") || hasPrefix(key, "measure.") {
                    kind = .measurement
                    markerLength = 8
                } else if value != nil, equals(key, "measure") {
                    legacyName = value
                }
            case 0x63:  // c
                if hasPrefix(key, "count#") {
                    kind = .counter
                    markerLength = 6
                } else if isRouter, value != nil, equals(key, "connect") {
                    router(key, value!, &out)
                }
            case 0x73:  // s
                if hasPrefix(key, "sample#") {
                    kind = .sample
                    markerLength = 7
                } else if value != nil, equals(key, "source") {
                    out.source = value
                } else if isRouter, value != nil, equals(key, "service") {
                    router(key, value!, &out)
                }
            case 0x62:  // b
                if isRouter, value != nil, equals(key, "bytes") { router(key, value!, &out) }
            case 0x76:  // v
                if value != nil, equals(key, "val") { legacyValue = value }
            case 0x75:  // u
                if value != nil, equals(key, "units") { legacyUnits = value }
            case 0x4C:  // L
                if previousWasError, value == nil, equals(key, "L10") {
                    l10(text, from: scanner.position, &out)
                }
            default:
                break
            }
            previousWasError = value == nil && equals(key, "Error")
            guard let kind else { continue }
            let name = UnsafeRawBufferPointer(rebasing: key[markerLength...])
            if name.isEmpty {
                out.emptyNames += 1
                continue
            }
            guard let v = value else {
                out.metrics.append(LineMetric(kind: kind, namePrefix: empty, name: name, value: 1, units: empty))
                continue
            }
            guard let parsed = metricValue(v) else {
                out.badValues += 1
                continue
            }
            out.metrics.append(LineMetric(kind: kind, namePrefix: empty, name: name, value: parsed.value,
                                          units: parsed.units))
        }

        if let name = legacyName, let raw = legacyValue {
            if name.isEmpty {
                out.emptyNames += 1
            } else if let parsed = metricValue(raw) {
                out.metrics.append(LineMetric(kind: .sample, namePrefix: empty, name: name, value: parsed.value,
                                              units: legacyUnits ?? parsed.units))
                if let s = out.source { out.source = herokuDyno(s) }
            } else {
                out.badValues += 1
            }
        }
    }

    /// The largest magnitude a metric takes: 1e100, so that a bucket's sum and sum of squares stay
    /// finite (1e100 values of 1e100 would be needed to overflow); beyond it a value is a bad value.
    public static let maxMagnitude = 1e100

    /// A value parsed and within ±`maxMagnitude`.
    @inline(__always)
    static func metricValue(_ bytes: UnsafeRawBufferPointer) -> ParsedValue? {
        guard let parsed = ValueParser.parse(bytes), abs(parsed.value) <= maxMagnitude else { return nil }
        return parsed
    }

    @inline(__always)
    static func router(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, _ out: inout LineMetrics) {
        guard let parsed = metricValue(value) else {
            out.badValues += 1
            return
        }
        out.metrics.append(LineMetric(kind: .measurement, namePrefix: routerPrefix, name: key, value: parsed.value,
                                      units: parsed.units))
    }

    /// After `Error L10`: `…): N messages dropped` gives the counter `logplex.l10` += N.
    static func l10(_ text: UnsafeRawBufferPointer, from: Int, _ out: inout LineMetrics) {
        let n = text.count
        var p = from
        let limit = min(n, from + 64)
        while p < limit, text[p] != 0x3A { p += 1 }
        guard p < limit else { return }
        p += 1
        while p < n, text[p] == 0x20 { p += 1 }
        let digitsStart = p
        var count: Int64 = 0
        while p < n, p - digitsStart < 15, text[p] &- 0x30 <= 9 {
            count = count * 10 + Int64(text[p] &- 0x30)
            p += 1
        }
        guard p > digitsStart else { return }
        let rest = UnsafeRawBufferPointer(rebasing: text[p...])
        guard hasPrefix(rest, " messages") else { return }
        out.metrics.append(LineMetric(kind: .counter, namePrefix: empty, name: l10Name, value: Double(count),
                                      units: empty))
    }

    /// `heroku.DIGITS.DYNO.UUID` → `DYNO`; any other source unchanged.
    public static func herokuDyno(_ source: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        guard hasPrefix(source, "heroku.") else { return source }
        let n = source.count
        var p = 7
        let digitsStart = p
        while p < n, source[p] &- 0x30 <= 9 { p += 1 }
        guard p > digitsStart, p < n, source[p] == 0x2E else { return source }
        let dynoStart = p + 1
        // A UUID is 36 bytes: 8-4-4-4-12 hex digits.
        guard n - dynoStart > 37, source[n - 37] == 0x2E else { return source }
        let uuidStart = n - 36
        for i in 0..<36 {
            let b = source[uuidStart + i]
            if i == 8 || i == 13 || i == 18 || i == 23 {
                if b != 0x2D { return source }
            } else {
                let lower = b | 0x20
                if !((b >= 0x30 && b <= 0x39) || (lower >= 0x61 && lower <= 0x66)) { return source }
            }
        }
        return UnsafeRawBufferPointer(rebasing: source[dynoStart..<(n - 37)])
    }
}
