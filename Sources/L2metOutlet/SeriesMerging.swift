import L2metCore
import L2metStore

extension ClaimedBucket {
    /// Buckets of one destination that differ only in their drain token (two drain tokens signed for
    /// the same destination, say for two apps) are one series there: sent apart, they would be two
    /// values under one name, source and time, of which a Librato series or an OTLP summary or gauge
    /// keeps one. They are merged into one (every key kept, to acknowledge them all), in the order
    /// first seen.
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
}
