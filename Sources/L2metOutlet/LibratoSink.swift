import Foundation
import L2metCore
import L2metStore

/// Librato: `POST URL` with `{"gauges":[…]}`, `Content-Type: application/json`, Basic auth with the
/// destination's `user:token`, at most `LibratoPayload.maxGaugesPerRequest` gauges a request. A
/// bucket's gauges never straddle two requests; buckets that differ only by drain token are merged.
public final class LibratoSink: MetricSink {
    private let client: CurlHTTPClient
    private let defaultURL: String
    private let maxGauges: Int

    /// - Parameters:
    ///   - defaultURL: where `.librato(url: nil)` destinations go (`--librato-url`).
    public init(client: CurlHTTPClient, defaultURL: String, maxGaugesPerRequest: Int = LibratoPayload.maxGaugesPerRequest) {
        self.client = client
        self.defaultURL = defaultURL
        self.maxGauges = max(4, maxGaugesPerRequest)
    }

    public func requests(for buckets: [ClaimedBucket], destination: Destination) -> [SinkRequest] {
        guard case let .librato(user, token, url) = destination else { return [] }
        let target = url ?? defaultURL
        let headers = [
            ("Content-Type", "application/json"),
            ("Authorization", "Basic " + Data("\(user):\(token)".utf8).base64EncodedString()),
        ]
        var out: [SinkRequest] = []
        var gauges: [LibratoGauge] = []
        var keys: [BucketKey] = []
        var oldestEnd = Int64.max
        func finish() {
            guard !keys.isEmpty else { return }
            out.append(SinkRequest(url: target, headers: headers, body: gauges.isEmpty ? [] : LibratoPayload.json(gauges[...]),
                                   keys: keys, itemCount: gauges.count, oldestEnd: oldestEnd))
            gauges.removeAll(keepingCapacity: true)
            keys.removeAll(keepingCapacity: true)
            oldestEnd = .max
        }
        for series in ClaimedBucket.mergedAcrossTokens(buckets) {
            let more = LibratoPayload.gauges(for: series.key, data: series.data)
            if gauges.count + more.count > maxGauges { finish() }
            gauges.append(contentsOf: more)
            keys.append(contentsOf: series.keys)
            oldestEnd = min(oldestEnd, series.key.end)
        }
        finish()
        return out
    }

    public func send(_ request: SinkRequest, timeout: Double) -> HTTPPostResult {
        return client.post(url: request.url, headers: request.headers, body: request.body, timeout: timeout)
    }
}
