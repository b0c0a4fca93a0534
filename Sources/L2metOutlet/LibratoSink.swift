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
        for series in Self.mergedAcrossTokens(buckets) {
            let more = LibratoPayload.gauges(for: series.key, data: series.data)
            if gauges.count + more.count > maxGauges { finish() }
            gauges.append(contentsOf: more)
            keys.append(contentsOf: series.keys)
            oldestEnd = min(oldestEnd, series.key.end)
        }
        finish()
        return out
    }

    /// Buckets of one destination that differ only in their drain token (two drain tokens signed for
    /// the same credentials, say for two apps) are one Librato series: posted apart, they would be two
    /// values under one name, source and time, and a series holds one value per time. They are merged
    /// into one (every key kept, to acknowledge them all), in the order first seen. Only buckets claimed
    /// together are merged; ones claimed by another worker still go in their own request.
    static func mergedAcrossTokens(_ buckets: [ClaimedBucket]) -> [(key: BucketKey, data: BucketData, keys: [BucketKey])] {
        guard let first = buckets.first?.key.token, buckets.contains(where: { $0.key.token != first }) else {
            return buckets.map { ($0.key, $0.data, [$0.key]) }
        }
        var out: [(key: BucketKey, data: BucketData, keys: [BucketKey])] = []
        out.reserveCapacity(buckets.count)
        var index: [BucketKey: Int] = [:]
        for bucket in buckets {
            var series = bucket.key
            series.token = ""
            if let i = index[series] {
                out[i].data.merge(bucket.data)
                out[i].keys.append(bucket.key)
            } else {
                index[series] = out.count
                out.append((bucket.key, bucket.data, [bucket.key]))
            }
        }
        return out
    }

    public func send(_ request: SinkRequest, timeout: Double) -> HTTPPostResult {
        return client.post(url: request.url, headers: request.headers, body: request.body, timeout: timeout)
    }
}
