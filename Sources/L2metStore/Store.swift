import L2metCore

/// A bucket an outlet has claimed: it stays in the store, invisible to other outlets, until it is
/// acknowledged (then deleted), rescheduled, or its lease runs out (then it is due again).
public struct ClaimedBucket: Sendable {
    public var key: BucketKey
    public var data: BucketData
    /// Failed delivery attempts so far (`Store.reschedule(_:leaseEnd:dueAt:because:)` with `.failed`),
    /// kept by the store so that any outlet continues the back-off schedule.
    public var attempts: Int
    public init(key: BucketKey, data: BucketData, attempts: Int = 0) {
        self.key = key
        self.data = data
        self.attempts = attempts
    }
}

/// Why claimed buckets go back to the store before their lease ends.
public enum RescheduleReason: String, Sendable {
    /// Never tried (an outlet stopping, or out of time before its lease): due again as they were.
    case released
    /// Not tried because their destination is failing (an open breaker): held, attempts unchanged.
    case deferred
    /// Tried, and the attempt failed in a way worth retrying: held, one more attempt counted.
    case failed
}

/// What the store holds and in which state, for `/metrics`.
public struct StoreBacklog: Sendable, Equatable {
    /// Buckets an outlet may claim now.
    public var due = 0
    /// Buckets due later (intervals not yet closed, retries backing off, deferred destinations).
    public var scheduled = 0
    /// Buckets an outlet holds (leased).
    public var claimed = 0
    /// Buckets held after a failure of their destination (deferred or failed at least once), in any state.
    public var retrying = 0
    /// The end (epoch seconds) of the oldest interval among the retrying buckets.
    public var oldestRetryingEnd: Int64?
    /// The earliest due time among due and scheduled buckets.
    public var earliestDue: Int64?
    /// Buckets set aside because their claims kept expiring unsettled (an outlet crashing on them).
    public var quarantined = 0
    public init() {}

    /// Seconds the oldest undelivered bucket has waited at `now`: since the end of the oldest retrying
    /// bucket's interval, or since the earliest due time passed.
    public func oldestAge(now: Int64) -> Int64 {
        var age: Int64 = 0
        if let end = oldestRetryingEnd { age = max(age, now - end) }
        if let due = earliestDue { age = max(age, now - due) }
        return max(0, age)
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

    /// `append`, reporting the buckets the store did not apply instead of failing the whole batch:
    /// every bucket of `batch` is applied exactly once under `flushID` except those returned, which
    /// were not applied at all (each with why: see `AppendRefusal.isPermanent`). A retry under the same
    /// id after a lost reply returns the same report and applies nothing again. Throws when the outcome
    /// is unknown or nothing could be said (unreachable, an error reply): then, as for `append`, retry
    /// the batch unchanged under the same id.
    func appendReporting(_ batch: [(key: BucketKey, data: BucketData)], flushID: String?,
                         dueAt: (BucketKey) -> Int64) throws -> [AppendRefusal]

    /// Atomically claims up to `limit` buckets of `partition` that are due at `now` (epoch seconds),
    /// leasing them for `lease` seconds. Claims whose lease ran out are due again first; a bucket whose
    /// claims ran out unsettled more than a few times in a row (3 by default: an outlet crashing on
    /// it) is set aside in quarantine instead (`StoreBacklog.quarantined`), so the rest go on.
    /// Two callers never get the same bucket while its lease lasts.
    ///
    /// A claim that throws may have claimed buckets all the same (a reply lost, a store that stalled
    /// past the time-out). Calling again with the same `claimID` (`FlushID.make()`) and the same `now`
    /// and `lease` hands out what that claim took, if it ran, instead of leaving it leased until its
    /// lease ends; nil claims without that guard.
    func claim(partition: Int, now: Int64, limit: Int, lease: Int64, claimID: String?) throws -> [ClaimedBucket]

    /// Deletes claimed buckets for good: the destination accepted them, or refused them for good.
    /// Keys that are not claimed (any more) are ignored. A part appended while a bucket was claimed
    /// becomes due. Safe to repeat.
    func acknowledge(_ keys: [BucketKey]) throws

    /// Gives claimed buckets back before their lease ends: each is due again at `dueAt`, merged with
    /// any part appended meanwhile, as if its lease had run out. Only claims still leased until exactly
    /// `leaseEnd` (`leaseEnd(now:lease:)` of the claim) are given back; others (acknowledged, expired
    /// and claimed by someone else) are left alone. `.failed` adds one to each bucket's attempts;
    /// `.deferred` and `.failed` count the bucket as retrying (`StoreBacklog`) until it is acknowledged.
    /// Safe to repeat, except that a repeated `.failed` after a lost reply may count one attempt twice.
    func reschedule(_ keys: [BucketKey], leaseEnd: Int64, dueAt: Int64, because reason: RescheduleReason) throws

    /// How many buckets are in which state at `now`.
    func backlog(now: Int64) throws -> StoreBacklog

    /// Merges the records of up to `limit` buckets of `partition` whose data grew past what the store
    /// keeps unmerged (a bucket collects one record per flush into its interval), so a bucket's size
    /// in the store stays bounded. Returns how many were compacted. Safe to call from any process,
    /// concurrently with appends and claims.
    func compact(partition: Int, limit: Int) throws -> Int

    /// Throws when the store cannot be reached.
    func ping() throws

    /// The bytes of bucket records the store holds for each of `tokens` (drain tokens, as in
    /// `BucketKey.token`) at `now` (epoch seconds): appended and not yet acknowledged, whether due,
    /// scheduled, claimed, waiting, retrying or set aside, as `BucketCodec` records (the bytes a flush
    /// appended; compaction makes them fewer). Data a store dropped on its own (Redis's TTL) leaves the
    /// count with the hour of bucket time it belongs to, at the latest when the last bucket of that hour
    /// expires. Every token is in the result (0 when it holds nothing), except from a store that does not
    /// count (the default): an empty result.
    func heldBytes(tokens: [String], now: Int64) throws -> [String: Int]
}

extension Store {
    /// A store that does not count what its drains hold knows nothing: an empty result.
    public func heldBytes(tokens: [String], now: Int64) throws -> [String: Int] { [:] }

    /// Stores that merge on append have nothing to compact.
    public func compact(partition: Int, limit: Int) throws -> Int { 0 }

    /// Claims under a fresh name: for callers that do not retry a failed claim.
    public func claim(partition: Int, now: Int64, limit: Int, lease: Int64) throws -> [ClaimedBucket] {
        try claim(partition: partition, now: now, limit: limit, lease: lease, claimID: nil)
    }

    /// Gives never-tried claimed buckets back, due at `now` (see `reschedule`).
    public func release(_ keys: [BucketKey], leaseEnd: Int64, now: Int64) throws {
        try reschedule(keys, leaseEnd: leaseEnd, dueAt: now, because: .released)
    }

    /// A store that applies a batch whole or throws refuses no bucket on its own.
    public func appendReporting(_ batch: [(key: BucketKey, data: BucketData)], flushID: String?,
                                dueAt: (BucketKey) -> Int64) throws -> [AppendRefusal] {
        try append(batch, flushID: flushID, dueAt: dueAt)
        return []
    }

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

/// One bucket of an append that the store did not apply, and why.
public struct AppendRefusal: Sendable, Equatable {
    /// Its index in the batch.
    public var index: Int
    /// The store's error, e.g. `ERR string exceeds maximum allowed size (proto-max-bulk-len)` or
    /// `OOM command not allowed when used memory > 'maxmemory'.`
    public var error: String
    public init(index: Int, error: String) {
        self.index = index
        self.error = error
    }

    /// Why, as a metric label: `too_large` (the bucket's data would pass Redis's string limit,
    /// `proto-max-bulk-len`), `wrong_type` (something else holds one of its keys), `out_of_memory`
    /// (`maxmemory` reached), `other`.
    public var reason: String {
        if error.contains("exceeds maximum allowed size") { return "too_large" }
        if error.hasPrefix("WRONGTYPE") { return "wrong_type" }
        if error.hasPrefix("OOM") { return "out_of_memory" }
        return "other"
    }

    /// True when sending the bucket again cannot succeed (too large, wrong type): it is dropped and
    /// counted. Anything else (out of memory, …) may pass later and is retried.
    public var isPermanent: Bool { reason == "too_large" || reason == "wrong_type" }
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
