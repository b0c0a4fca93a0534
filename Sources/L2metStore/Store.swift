import L2metCore

/// A bucket an outlet has claimed: it stays in the store, invisible to other outlets, until it is
/// acknowledged (then deleted) or its lease runs out (then it is due again).
public struct ClaimedBucket: Sendable {
    public var key: BucketKey
    public var data: BucketData
    public init(key: BucketKey, data: BucketData) {
        self.key = key
        self.data = data
    }
}

/// Where receivers put buckets and outlets take them. Implementations: `MemoryStore` (one process)
/// and `RedisStore` (shared by many receivers and outlets). All methods are safe to call from any thread.
public protocol Store: AnyObject, Sendable {
    /// Number of partitions of the due index; outlets claim one partition at a time.
    var partitions: Int { get }

    /// Merges each bucket into what the store already holds for its key and marks it due at
    /// `dueAt(key)` (epoch seconds).
    ///
    /// Appending is not idempotent, so each call is named by `flushID` (`FlushID.make()`). When the
    /// call throws, the batch may or may not have been stored (a reply lost after the store applied
    /// it): the caller keeps the batch and retries it **unchanged, in the same order, with the same
    /// id** until a call succeeds; the store then applies only what earlier calls with that id did not,
    /// so nothing is counted twice. A caller that cannot keep the id passes nil (a fresh one).
    ///
    /// Appending to a bucket that an outlet holds (claimed, not yet acknowledged) neither adds to the
    /// claimed data nor makes the bucket claimable again while the lease lasts: the new data waits as
    /// a separate part. When the claim is acknowledged, that part becomes due on its own (posted
    /// later, never lost); when the lease runs out instead, claimed data and part are merged and due
    /// again together (nothing is posted twice because of the append).
    func append(_ batch: [(key: BucketKey, data: BucketData)], flushID: String?, dueAt: (BucketKey) -> Int64) throws

    /// Atomically claims up to `limit` buckets of `partition` that are due at `now` (epoch seconds),
    /// leasing them for `lease` seconds. Claims whose lease ran out are due again first.
    /// Two callers never get the same bucket while its lease lasts.
    func claim(partition: Int, now: Int64, limit: Int, lease: Int64) throws -> [ClaimedBucket]

    /// Deletes claimed buckets for good: the destination accepted them, or refused them for good.
    /// Keys that are not claimed (any more) are ignored. A part appended while a bucket was claimed
    /// becomes due. Safe to repeat.
    func acknowledge(_ keys: [BucketKey]) throws

    /// Gives claimed buckets back before their lease ends, for buckets the claimer made no attempt to
    /// deliver (an outlet stopping): each is due again at `now`, merged with any part appended
    /// meanwhile, as if its lease had run out. Only claims still leased until exactly `leaseEnd`
    /// (`leaseEnd(now:lease:)` of the claim) are given back; others (acknowledged, expired and claimed
    /// by someone else) are left alone. Safe to repeat.
    func release(_ keys: [BucketKey], leaseEnd: Int64, now: Int64) throws

    /// Throws when the store cannot be reached.
    func ping() throws
}

extension Store {
    /// Appends under a fresh flush id: for callers that do not retry a failed batch.
    public func append(_ batch: [(key: BucketKey, data: BucketData)], dueAt: (BucketKey) -> Int64) throws {
        try append(batch, flushID: nil, dueAt: dueAt)
    }
}

/// When a claim made at `now` (epoch seconds) for `lease` seconds ends, as every store computes it.
public func leaseEnd(now: Int64, lease: Int64) -> Int64 {
    let (end, overflow) = now.addingReportingOverflow(max(0, lease))
    return overflow ? Int64.max : end
}

/// Names of flushes, for `Store.append`.
public enum FlushID {
    /// 128 random bits, hex: unique per flush across processes.
    public static func make() -> String {
        var g = SystemRandomNumberGenerator()
        let a = g.next() as UInt64, b = g.next() as UInt64
        return String(a, radix: 16) + String(b, radix: 16)
    }
}

/// Why a store call failed.
public enum StoreError: Error, CustomStringConvertible {
    case unavailable(String)
    case protocolError(String)

    public var description: String {
        switch self {
        case .unavailable(let why): return "store unavailable: \(why)"
        case .protocolError(let why): return "store protocol error: \(why)"
        }
    }
}
