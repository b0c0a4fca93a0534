import Foundation
import L2metCore
import Synchronization

/// A `Store` in this process's memory, for one process with no Redis. Thread-safe (one lock).
///
/// It follows the Redis schema's rules (docs/redis-schema.md) exactly:
/// - each partition has a due index (bucket -> due time) and a claimed index (bucket -> lease expiry);
/// - `claim` first makes expired claims due again, then moves up to `limit` due buckets to the
///   claimed index and hands out their data;
/// - `append` to a bucket that is currently claimed keeps the new data as a separate pending part
///   that is *not* due while the claim lasts: when the claim is acknowledged, the part becomes due on
///   its own (posted later, never lost); when the lease runs out instead, the claimed data and the
///   part are merged (claimed first) and are due again together (nothing posted twice from one claim);
/// - `acknowledge` deletes the claimed data;
/// - each drain's held bytes (`heldBytes`) are the sizes of the `BucketCodec` records appended for it
///   (what Redis would hold) less those acknowledged. Nothing expires here: data set aside
///   (quarantined) stays held.
public final class MemoryStore: Store, Sendable {
    public let partitions: Int

    /// One partition's buckets and indexes.
    private struct Partition {
        /// Data not claimed (due, or waiting for a claim of the same key to end).
        var pending: [BucketKey: BucketData] = [:]
        /// Data handed out by `claim` and not yet acknowledged.
        var claimed: [BucketKey: BucketData] = [:]
        /// Pending buckets an outlet may claim, by due time.
        var due = TimeIndex<BucketKey>()
        /// Claimed buckets, by lease expiry.
        var leases = TimeIndex<BucketKey>()
        /// Pending parts of claimed buckets, by their due time.
        var waiting = TimeIndex<BucketKey>()
        /// Buckets held after a failure of their destination, by interval end.
        var retrying = TimeIndex<BucketKey>()
        /// Failed attempts per bucket (absent: none).
        var attempts: [BucketKey: Int] = [:]
        /// Leases that ran out unsettled, per bucket.
        var expiries: [BucketKey: Int] = [:]
        /// Buckets set aside after too many expiries, with their data.
        var quarantine: [BucketKey: BucketData] = [:]
        /// Record bytes of `pending` and of `claimed`, per bucket.
        var pendingBytes: [BucketKey: Int] = [:]
        var claimedBytes: [BucketKey: Int] = [:]
        /// Record bytes held per drain token (pending, claimed and quarantined); absent: none.
        var held: [String: Int] = [:]

        mutating func hold(_ token: String, _ delta: Int) {
            let n = (held[token] ?? 0) + delta
            held[token] = n > 0 ? n : nil
        }

        /// Forgets a bucket's retry state (delivered, dropped, or its data is gone).
        mutating func forgetRetries(_ key: BucketKey) {
            retrying.remove(key)
            attempts[key] = nil
        }

        /// Gives `key` back from its claim: the claimed data, merged with any part appended since,
        /// is pending again and due at `due`. Returns false when it has no data left.
        @discardableResult
        mutating func unclaim(_ key: BucketKey, due: Int64) -> Bool {
            leases.remove(key)
            waiting.remove(key)
            if var data = claimed.removeValue(forKey: key) {
                if let later = pending[key] { data.merge(later) }
                pending[key] = data
                pendingBytes[key, default: 0] += claimedBytes.removeValue(forKey: key) ?? 0
            }
            guard pending[key] != nil else { return false }
            self.due.insert(key, score: due)
            return true
        }
    }

    /// Every partition, under one lock.
    private let state: Mutex<[Partition]>

    /// Lease expiries after which a bucket is set aside (see `Store.claim`).
    public let maxClaimExpiries: Int

    public init(partitions: Int = 1, maxClaimExpiries: Int = 3) {
        self.partitions = max(1, partitions)
        self.maxClaimExpiries = max(0, maxClaimExpiries)
        state = Mutex(Array(repeating: Partition(), count: self.partitions))
    }

    /// Applied whole under the lock and never throws, so `flushID` has nothing to guard against here.
    public func append(_ batch: [(key: BucketKey, data: BucketData)], flushID: String?,
                       dueAt: (BucketKey) -> Int64) throws {
        let placed = batch.map { (p: StorePartitioning.partition(of: $0.key, partitions: partitions), key: $0.key,
                                  data: $0.data, due: dueAt($0.key), size: Self.recordSize($0.data)) }
        return state.withLock { parts in
            for item in placed {
                parts[item.p].pendingBytes[item.key, default: 0] += item.size
                parts[item.p].hold(item.key.token, item.size)
                if parts[item.p].pending[item.key] == nil {
                    parts[item.p].pending[item.key] = item.data
                } else {
                    parts[item.p].pending[item.key]!.merge(item.data)
                }
                if parts[item.p].leases.score(of: item.key) != nil {
                    if parts[item.p].waiting.score(of: item.key) == nil {
                        parts[item.p].waiting.insert(item.key, score: item.due)
                    }
                } else if parts[item.p].due.score(of: item.key) == nil {
                    parts[item.p].due.insert(item.key, score: item.due)
                }
            }
        }
    }

    /// Never throws once the partition is valid, so `claimID` has nothing to recover here.
    public func claim(partition: Int, now: Int64, limit: Int, lease: Int64, claimID: String?) throws -> [ClaimedBucket] {
        guard (0..<partitions).contains(partition) else {
            throw StoreError.protocolError("partition \(partition) out of range 0..<\(partitions)")
        }
        return state.withLock { parts in
            var part = parts[partition]
            parts[partition] = Partition()  // keep `part` uniquely referenced while it is mutated
            defer { parts[partition] = part }

            // Expired leases: the claimed data (merged with any part appended since) is due again, or
            // set aside once its claims kept running out.
            for (key, expiry) in part.leases.first(upTo: now, limit: Int.max) {
                guard part.unclaim(key, due: expiry) else {
                    part.expiries[key] = nil
                    continue
                }
                part.expiries[key, default: 0] += 1
                if maxClaimExpiries > 0 && part.expiries[key]! > maxClaimExpiries {
                    part.due.remove(key)
                    part.quarantine[key] = part.pending.removeValue(forKey: key)
                    part.pendingBytes[key] = nil  // still held (`held`): quarantined data is kept
                    part.expiries[key] = nil
                }
            }

            var out: [ClaimedBucket] = []
            let until = L2metStore.leaseEnd(now: now, lease: lease)
            for (key, _) in part.due.first(upTo: now, limit: limit) {
                part.due.remove(key)
                guard let data = part.pending.removeValue(forKey: key) else {
                    part.forgetRetries(key)
                    continue
                }
                part.claimed[key] = data
                part.claimedBytes[key] = part.pendingBytes.removeValue(forKey: key)
                part.leases.insert(key, score: until)
                out.append(ClaimedBucket(key: key, data: data, attempts: part.attempts[key] ?? 0))
            }
            return out
        }
    }

    public func acknowledge(_ keys: [BucketKey]) throws {
        return state.withLock { parts in
            for key in keys {
                let p = StorePartitioning.partition(of: key, partitions: partitions)
                parts[p].claimed[key] = nil
                if let size = parts[p].claimedBytes.removeValue(forKey: key) { parts[p].hold(key.token, -size) }
                parts[p].leases.remove(key)
                parts[p].forgetRetries(key)
                parts[p].expiries[key] = nil
                if let due = parts[p].waiting.remove(key), parts[p].pending[key] != nil {
                    parts[p].due.insert(key, score: due)
                }
            }
        }
    }

    public func reschedule(_ keys: [BucketKey], leaseEnd: Int64, dueAt: Int64, because reason: RescheduleReason) throws {
        return state.withLock { parts in
            for key in keys {
                let p = StorePartitioning.partition(of: key, partitions: partitions)
                guard parts[p].leases.score(of: key) == leaseEnd else { continue }
                parts[p].expiries[key] = nil
                guard parts[p].unclaim(key, due: dueAt) else { continue }
                guard reason != .released else { continue }
                if parts[p].retrying.score(of: key) == nil { parts[p].retrying.insert(key, score: key.end) }
                if reason == .failed { parts[p].attempts[key, default: 0] += 1 }
            }
        }
    }

    public func backlog(now: Int64) throws -> StoreBacklog {
        return state.withLock { parts in
            var b = StoreBacklog()
            for part in parts {
                let dueNow = part.due.count(upTo: now)
                b.due += dueNow
                b.scheduled += part.due.count - dueNow
                b.claimed += part.leases.count
                b.retrying += part.retrying.count
                if let end = part.retrying.lowestScore { b.oldestRetryingEnd = min(b.oldestRetryingEnd ?? end, end) }
                if let due = part.due.lowestScore { b.earliestDue = min(b.earliestDue ?? due, due) }
                b.quarantined += part.quarantine.count
            }
            return b
        }
    }

    public func ping() throws {}

    /// Counted on every append and acknowledgement (see the type's notes); `now` changes nothing, as
    /// nothing expires here.
    public func heldBytes(tokens: [String], now: Int64) throws -> [String: Int] {
        return state.withLock { parts in
            var out: [String: Int] = [:]
            for token in tokens {
                out[token] = parts.reduce(0) { $0 + ($1.held[token] ?? 0) }
            }
            return out
        }
    }

    /// The size of `data`'s `BucketCodec` record (what `RedisStore` appends), without encoding it
    /// unless it is a sketch (whose bins are varints).
    static func recordSize(_ data: BucketData) -> Int {
        if data.kind == .measurement, data.sketch != nil {
            var record: [UInt8] = []
            BucketCodec.encode(data, into: &record)
            return record.count
        }
        return BucketCodec.headerSize + (data.kind == .measurement ? 8 * data.values.count : 0)
    }

    /// Buckets held, claimed or not (for tests and metrics).
    public var bucketCount: Int {
        return state.withLock { parts in
            return parts.reduce(0) { $0 + $1.pending.count + $1.claimed.count }
        }
    }
}
