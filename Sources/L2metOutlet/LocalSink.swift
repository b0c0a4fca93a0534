import L2metCore
import L2metObservability
import L2metStore

/// Local mode: each gauge is one logfmt line on stdout,
/// `at=metric name=orders source=web.1 time=1763838000 value=7` (or `count=… sum=… min=… max=…
/// sum_squares=…` for a summary), plus `units=…` when known; `source=` is left out when empty.
public final class LocalSink: MetricSink {
    private let output: LogOutput

    public init(output: LogOutput = .standardOutput) { self.output = output }

    public var isRemote: Bool { false }

    public func requests(for buckets: [ClaimedBucket], destination: Destination) -> [SinkRequest] {
        var lines = ""
        var count = 0
        var oldestEnd = Int64.max
        for bucket in buckets {
            for gauge in LibratoPayload.gauges(for: bucket.key, data: bucket.data) {
                lines += Self.line(gauge)
                count += 1
            }
            oldestEnd = min(oldestEnd, bucket.key.end)
        }
        guard !buckets.isEmpty else { return [] }
        return [SinkRequest(url: "", headers: [], body: Array(lines.utf8), keys: buckets.map(\.key), itemCount: count,
                            oldestEnd: oldestEnd)]
    }

    public func send(_ request: SinkRequest, timeout: Double) -> HTTPPostResult {
        if !request.body.isEmpty { output.write(String(decoding: request.body, as: UTF8.self)) }
        return HTTPPostResult(status: 200)
    }

    /// One gauge's line, newline included.
    public static func line(_ g: LibratoGauge) -> String {
        var s = "at=metric name=\(LogfmtLogHandler.quote(g.name))"
        if let source = g.source, !source.isEmpty { s += " source=\(LogfmtLogHandler.quote(source))" }
        s += " time=\(g.measureTime)"
        if let value = g.value {
            s += " value=\(JSONWriter.number(value))"
        } else {
            s += " count=\(g.count ?? 0) sum=\(JSONWriter.number(g.sum ?? 0)) min=\(JSONWriter.number(g.min ?? 0))"
            s += " max=\(JSONWriter.number(g.max ?? 0)) sum_squares=\(JSONWriter.number(g.sumSquares ?? 0))"
        }
        if let units = g.units, !units.isEmpty { s += " units=\(LogfmtLogHandler.quote(units))" }
        return s + "\n"
    }
}
