import L2metCore
import L2metStore

/// OpenTelemetry, OTLP/HTTP with JSON bodies: `POST URL` with one `ExportMetricsServiceRequest`,
/// `Content-Type: application/json`, and the destination's headers (API keys; their values are secret
/// and never logged). At most `OTLPPayload.maxDataPointsPerRequest` data points (one per bucket) a
/// request; buckets that differ only by drain token are one data point. The destination's reserved `service.name` fragment key becomes the resource attribute
/// `service.name` (see `OTLPDestinationOptions`). Retries are the outlet's, as for Librato.
public final class OTLPSink: MetricSink {
    private let client: CurlHTTPClient
    private let scopeVersion: String
    private let maxPoints: Int

    /// - Parameters:
    ///   - scopeVersion: the `l2met` instrumentation scope's version (left out when empty).
    public init(client: CurlHTTPClient, scopeVersion: String,
                maxDataPointsPerRequest: Int = OTLPPayload.maxDataPointsPerRequest) {
        self.client = client
        self.scopeVersion = scopeVersion
        self.maxPoints = max(1, maxDataPointsPerRequest)
    }

    /// The version in a User-Agent such as `l2met/0.1.0`; "" when it has none.
    public static func version(fromUserAgent userAgent: String) -> String {
        guard let slash = userAgent.firstIndex(of: "/") else { return "" }
        let rest = userAgent[userAgent.index(after: slash)...]
        return String(rest.prefix { $0 != " " })
    }

    public func requests(for buckets: [ClaimedBucket], destination: Destination) -> [SinkRequest] {
        guard case let .otlp(url, fragment) = destination else { return [] }
        let options = OTLPDestinationOptions(fragment: fragment)
        var headers = [("Content-Type", "application/json")]
        headers += options.headers.filter { $0.0.lowercased() != "content-type" }
        var out: [SinkRequest] = []
        var points: [OTLPDataPoint] = []
        var keys: [BucketKey] = []
        var oldestEnd = Int64.max
        func finish() {
            guard !keys.isEmpty else { return }
            let body = points.isEmpty ? [] : OTLPPayload.json(points[...], serviceName: options.serviceName, scopeVersion: scopeVersion)
            out.append(SinkRequest(url: url, headers: headers, body: body, keys: keys, itemCount: points.count, oldestEnd: oldestEnd))
            points.removeAll(keepingCapacity: true)
            keys.removeAll(keepingCapacity: true)
            oldestEnd = .max
        }
        for series in ClaimedBucket.mergedAcrossTokens(buckets) {
            let point = OTLPPayload.dataPoint(for: series.key, data: series.data)
            if point != nil && points.count >= maxPoints { finish() }
            if let point { points.append(point) }
            keys.append(contentsOf: series.keys)
            oldestEnd = min(oldestEnd, series.key.end)
        }
        finish()
        return out
    }

    public func send(_ request: SinkRequest, timeout: Double) -> HTTPPostResult {
        client.post(url: request.url, headers: request.headers, body: request.body, timeout: timeout)
    }
}
