/// Turns buckets into OTLP data points and data points into one OTLP/HTTP JSON
/// `ExportMetricsServiceRequest`:
///
/// ```
/// {"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"…"}}]},
///   "scopeMetrics":[{"scope":{"name":"l2met","version":"…"},"metrics":[…]}]}]}
/// ```
///
/// | kind | OTLP metric |
/// |---|---|
/// | measurement NAME | `summary`: `count`, `sum`, `quantileValues` 0 (min), 0.5, 0.95, 0.99 (nearest rank), 1 (max) |
/// | counter NAME | `sum`: `aggregationTemporality` 1 (delta), `isMonotonic` true, `asDouble` = the sum |
/// | sample NAME | `gauge`: `asDouble` = the last value |
///
/// Every point has `startTimeUnixNano` / `timeUnixNano` = the bucket's start and end in unix
/// nanoseconds, and the attribute `source` unless the source is empty. Points of the same name, kind
/// and unit share one metric. 64-bit integers (times, `count`) are JSON strings, as the OTLP JSON
/// encoding has them. A point whose numbers are not all finite is left out (JSON cannot say them).
public enum OTLPPayload {
    /// Data points in one request.
    public static let maxDataPointsPerRequest = 1000
    /// The instrumentation scope's name.
    public static let scopeName = "l2met"

    /// The data point of one bucket; nil for a bucket with no values, non-finite numbers, or times
    /// outside what unix nanoseconds can hold.
    public static func dataPoint(for key: BucketKey, data: BucketData) -> OTLPDataPoint? {
        guard data.count > 0,
              let start = nanoseconds(key.time), let end = nanoseconds(key.end) else { return nil }
        var point = OTLPDataPoint(name: key.name, kind: key.kind, unit: OTLPUnit.ucum(key.units), source: key.source,
                                  startTimeUnixNano: start, timeUnixNano: end, value: 0)
        switch key.kind {
        case .measurement:
            guard data.hasValues else { return nil }
            let s = Statistics(data)
            point.count = s.count
            point.value = s.sum
            point.quantiles = [(0, s.min), (0.5, s.median), (0.95, s.perc95), (0.99, s.perc99), (1, s.max)]
        case .counter:
            point.value = data.sum
        case .sample:
            point.value = data.lastValue
        }
        return point.isFinite ? point : nil
    }

    /// Epoch seconds as unix nanoseconds; nil when negative or too large for 64 bits.
    static func nanoseconds(_ seconds: Int64) -> Int64? {
        guard seconds >= 0 else { return nil }
        let (ns, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? nil : ns
    }

    /// The request body for `points`.
    /// - Parameters:
    ///   - serviceName: the `service.name` resource attribute.
    ///   - scopeVersion: the `l2met` scope's version; left out when empty.
    public static func json(_ points: ArraySlice<OTLPDataPoint>, serviceName: String, scopeVersion: String) -> [UInt8] {
        // Metrics in the order their first point comes; each with its points in order.
        var index: [MetricIdentity: Int] = [:]
        var groups: [[Int]] = []
        for i in points.indices {
            let p = points[i]
            let id = MetricIdentity(name: p.name, kind: p.kind, unit: p.unit)
            if let g = index[id] {
                groups[g].append(i)
            } else {
                index[id] = groups.count
                groups.append([i])
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(256 + points.count * 200)
        append("{\"resourceMetrics\":[{\"resource\":{\"attributes\":[", to: &out)
        appendAttribute("service.name", serviceName, to: &out)
        append("]},\"scopeMetrics\":[{\"scope\":{\"name\":", to: &out)
        JSONWriter.appendString(scopeName, to: &out)
        if !scopeVersion.isEmpty {
            append(",\"version\":", to: &out)
            JSONWriter.appendString(scopeVersion, to: &out)
        }
        append("},\"metrics\":[", to: &out)
        for (g, members) in groups.enumerated() {
            if g > 0 { out.append(UInt8(ascii: ",")) }
            let first = points[members[0]]
            append("{\"name\":", to: &out)
            JSONWriter.appendString(first.name, to: &out)
            if !first.unit.isEmpty {
                append(",\"unit\":", to: &out)
                JSONWriter.appendString(first.unit, to: &out)
            }
            switch first.kind {
            case .measurement: append(",\"summary\":{\"dataPoints\":[", to: &out)
            case .counter: append(",\"sum\":{\"aggregationTemporality\":1,\"isMonotonic\":true,\"dataPoints\":[", to: &out)
            case .sample: append(",\"gauge\":{\"dataPoints\":[", to: &out)
            }
            for (n, i) in members.enumerated() {
                if n > 0 { out.append(UInt8(ascii: ",")) }
                appendPoint(points[i], to: &out)
            }
            append("]}}", to: &out)
        }
        append("]}]}]}", to: &out)
        return out
    }

    /// The request body for all of `points`.
    public static func json(_ points: [OTLPDataPoint], serviceName: String, scopeVersion: String) -> [UInt8] {
        json(points[...], serviceName: serviceName, scopeVersion: scopeVersion)
    }

    /// What makes two points parts of one metric.
    private struct MetricIdentity: Hashable {
        var name: String
        var kind: MetricKind
        var unit: String
    }

    private static func appendPoint(_ p: OTLPDataPoint, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        if !p.source.isEmpty {
            append("\"attributes\":[", to: &out)
            appendAttribute("source", p.source, to: &out)
            append("],", to: &out)
        }
        append("\"startTimeUnixNano\":", to: &out)
        appendQuotedInteger(p.startTimeUnixNano, to: &out)
        append(",\"timeUnixNano\":", to: &out)
        appendQuotedInteger(p.timeUnixNano, to: &out)
        switch p.kind {
        case .measurement:
            append(",\"count\":", to: &out)
            appendQuotedInteger(Int64(p.count), to: &out)
            append(",\"sum\":", to: &out)
            JSONWriter.appendNumber(p.value, to: &out)
            append(",\"quantileValues\":[", to: &out)
            for (n, q) in p.quantiles.enumerated() {
                if n > 0 { out.append(UInt8(ascii: ",")) }
                append("{\"quantile\":", to: &out)
                JSONWriter.appendNumber(q.quantile, to: &out)
                append(",\"value\":", to: &out)
                JSONWriter.appendNumber(q.value, to: &out)
                out.append(UInt8(ascii: "}"))
            }
            out.append(UInt8(ascii: "]"))
        case .counter, .sample:
            append(",\"asDouble\":", to: &out)
            JSONWriter.appendNumber(p.value, to: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    private static func appendAttribute(_ key: String, _ value: String, to out: inout [UInt8]) {
        append("{\"key\":", to: &out)
        JSONWriter.appendString(key, to: &out)
        append(",\"value\":{\"stringValue\":", to: &out)
        JSONWriter.appendString(value, to: &out)
        append("}}", to: &out)
    }

    private static func appendQuotedInteger(_ v: Int64, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        JSONWriter.appendInteger(v, to: &out)
        out.append(UInt8(ascii: "\""))
    }

    @inline(__always)
    private static func append(_ s: StaticString, to out: inout [UInt8]) {
        s.withUTF8Buffer { out.append(contentsOf: $0) }
    }
}
