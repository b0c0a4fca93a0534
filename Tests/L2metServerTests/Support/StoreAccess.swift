import L2metStore

/// Reads everything a Redis holds, due or not, as an outlet would.
enum L2metStoreAccess {
    static func claimAll(_ url: String, partitions: Int = 1) throws -> [ClaimedBucket] {
        let store = try RedisStore(url: url, partitions: partitions)
        var all: [ClaimedBucket] = []
        for p in 0..<partitions {
            all += try store.claim(partition: p, now: Int64.max / 2, limit: 100_000, lease: 60)
        }
        return all
    }
}
