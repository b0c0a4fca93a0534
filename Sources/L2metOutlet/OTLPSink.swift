import Foundation
import L2metCore
import L2metStore

/// OpenTelemetry, OTLP/HTTP with JSON bodies: `POST URL` with one `ExportMetricsServiceRequest`,
/// `Content-Type: application/json`, and the destination's headers (API keys; their values are secret
/// and never logged). A destination URL with no path (or `/`) is a base endpoint and gets `/v1/metrics`
/// (`OTLPDestinationOptions.exportURL`). At most `OTLPPayload.maxDataPointsPerRequest` data points (one
/// per bucket) a request; buckets that differ only by drain token are one data point. The destination's
/// reserved `service.name` fragment key becomes the resource attribute `service.name`, and
/// `content-encoding=gzip` sends gzip bodies (see `OTLPDestinationOptions`).
///
/// Answers, by the OTLP/HTTP specification: 2xx accepted (a `partialSuccess` in the body is reported
/// by `partialRejection`); 429, 502, 503, 504 and transport failures retried (the outlet honours
/// `Retry-After`); every other status a final refusal.
public final class OTLPSink: MetricSink {
    /// The longest `partialSuccess.errorMessage` kept, in bytes.
    public static let maxMessageBytes = 512

    private let client: CurlHTTPClient
    private let scopeVersion: String
    private let maxPoints: Int
    private lazy var compressor = GzipCompressor()

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
        let endpoint = OTLPDestinationOptions.exportURL(url)
        var headers = [("Content-Type", "application/json")]
        headers += options.headers.filter { $0.0.lowercased() != "content-type" }
        var out: [SinkRequest] = []
        var points: [OTLPDataPoint] = []
        var keys: [BucketKey] = []
        var oldestEnd = Int64.max
        func finish() {
            guard !keys.isEmpty else { return }
            var body = points.isEmpty ? [] : OTLPPayload.json(points[...], serviceName: options.serviceName, scopeVersion: scopeVersion)
            var requestHeaders = headers
            // The body is compressed once, here, so every retry sends the same bytes. Should zlib fail
            // (out of memory), the body goes as it is, which the collector reads as well.
            if options.gzip, !body.isEmpty, let compressed = compressor.compress(body) {
                body = compressed
                requestHeaders.append(("Content-Encoding", "gzip"))
            }
            out.append(SinkRequest(url: endpoint, headers: requestHeaders, body: body, keys: keys, itemCount: points.count,
                                   oldestEnd: oldestEnd))
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

    /// OTLP/HTTP's rule: only 429, 502, 503 and 504 (and no answer at all) may be retried.
    public func verdict(_ result: HTTPPostResult) -> DeliveryVerdict {
        guard let status = result.status else { return .retry }
        switch status {
        case 200..<300: return .accepted
        case 429, 502, 503, 504: return .retry
        default: return .refused
        }
    }

    public func partialRejection(_ result: HTTPPostResult) -> PartialRejection? {
        guard let status = result.status, (200..<300).contains(status) else { return nil }
        return Self.partialRejection(responseBody: result.body)
    }

    /// The `partialSuccess` of an `ExportMetricsServiceResponse` in JSON (proto3 JSON: field names in
    /// lowerCamelCase or as in the .proto, int64 as a string or a number): nil when the body is empty,
    /// not JSON, or has no `partialSuccess` with rejected points or a message. A message with nothing
    /// rejected is the specification's warning, reported with `rejectedItems` 0. The message is cut
    /// to `maxMessageBytes`.
    public static func partialRejection(responseBody body: [UInt8]) -> PartialRejection? {
        guard !body.isEmpty,
              let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any],
              let partial = (object["partialSuccess"] ?? object["partial_success"]) as? [String: Any]
        else { return nil }
        let rejected = int64(partial["rejectedDataPoints"] ?? partial["rejected_data_points"]) ?? 0
        let message = (partial["errorMessage"] ?? partial["error_message"]) as? String ?? ""
        guard rejected > 0 || !message.isEmpty else { return nil }
        return PartialRejection(rejectedItems: Int(clamping: max(0, rejected)), message: bounded(message))
    }

    /// A proto3 JSON int64: a number, or a string of decimal digits.
    private static func int64(_ value: Any?) -> Int64? {
        if let s = value as? String { return Int64(s) }
        if let n = value as? NSNumber {
            let d = n.doubleValue
            return d.isFinite ? Int64(exactly: d.rounded(.towardZero)) ?? (d > 0 ? .max : .min) : nil
        }
        return nil
    }

    /// At most `maxMessageBytes` of `message`, cut between characters.
    private static func bounded(_ message: String) -> String {
        guard message.utf8.count > maxMessageBytes else { return message }
        var out = ""
        for c in message {
            if out.utf8.count + c.utf8.count > maxMessageBytes { break }
            out.append(c)
        }
        return out + "…"
    }
}
