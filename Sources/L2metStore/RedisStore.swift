import Foundation
import L2metCore
import Synchronization

/// A `Store` in Redis, shared by every receiver and outlet pointing at it. Schema and guarantees:
/// docs/redis-schema.md. In short: bucket data is `APPEND`ed BucketCodec records at
/// `PREFIX:b:STOREKEY`; each partition has a due set, a claimed set (scored by lease end) and a
/// waiting set (parts appended while the bucket was claimed); appends, claims and acknowledgements
/// are Lua scripts, so each is atomic.
///
/// Thread-safe: calls borrow a connection from a small pool.
public final class RedisStore: Store, Sendable {
    public let partitions: Int
    /// The parsed URL (its `description` hides the password).
    public let url: RedisURL
    /// Key prefix, e.g. "l2met:".
    public let prefix: String
    /// Seconds a bucket's data outlives its due time before Redis drops it (abandoned keys).
    public let bucketTTL: Int64
    /// Buckets per Lua call in one flush; each call is applied on its own, all sent in one pipeline.
    public let appendChunk: Int
    /// About the most bytes of arguments per Lua call of a flush (a chunk ends once it holds this
    /// many; a single bucket may hold more).
    public let appendChunkBytes: Int
    /// How long `append` keeps retrying, with the same flush id, after the reply to a flush was lost.
    public let lostReplyRetryWindow: Double
    /// Seconds a flush marker lives (it makes a retried flush a no-op).
    static let markerTTL = 600

    let pool: RedisConnectionPool
    private let corrupt = Atomic<Int>(0)
    private let quarantined = Atomic<Int>(0)
    /// Lease expiries (claims never settled: their outlet crashed or stalled) after which a bucket is
    /// set aside in the quarantine set instead of being due again.
    public let maxClaimExpiries: Int

    /// Parses `url` (no connection is made yet: the first call connects). Throws `RedisURLError`
    /// for a malformed URL. `rediss://` connects through in-process TLS tunnels (`RedisTLSTunnel`),
    /// each torn down with its connection; `connectTimeout` bounds the TCP connect and TLS handshake.
    public init(url: String, partitions: Int = 1, prefix: String = "l2met", poolSize: Int = 4,
                connectTimeout: Double = 2, commandTimeout: Double = 10, bucketTTL: Int64 = 86_400,
                appendChunk: Int = 1000, appendChunkBytes: Int = 1 << 20, lostReplyRetryWindow: Double = 5,
                maxClaimExpiries: Int = 3) throws {
        self.maxClaimExpiries = max(0, maxClaimExpiries)
        self.url = try RedisURL(parsing: url)
        self.partitions = max(1, partitions)
        self.prefix = prefix.hasSuffix(":") ? prefix : prefix + ":"
        self.bucketTTL = bucketTTL
        self.appendChunk = max(1, appendChunk)
        self.appendChunkBytes = max(1, appendChunkBytes)
        self.lostReplyRetryWindow = lostReplyRetryWindow
        let tls = self.url.tls ? try RedisTLSContext(verifyCertificate: self.url.verifyCertificate) : nil
        pool = RedisConnectionPool(url: self.url, size: poolSize, connectTimeout: connectTimeout,
                                   commandTimeout: commandTimeout, tls: tls)
    }

    /// Buckets set aside (quarantined) by this process's claims after too many lease expiries.
    public var quarantinedBuckets: Int { quarantined.load(ordering: .relaxed) }

    /// Claimed buckets whose key or data could not be decoded (written by something else); they are deleted.
    public var corruptBuckets: Int { corrupt.load(ordering: .relaxed) }

    // MARK: append

    /// Applies the whole batch or throws: a bucket the store refused (see `appendReporting`) makes it
    /// throw, naming how many and why.
    public func append(_ batch: [(key: BucketKey, data: BucketData)], flushID: String?,
                       dueAt: (BucketKey) -> Int64) throws {
        let refused = try appendReporting(batch, flushID: flushID, dueAt: dueAt)
        if let first = refused.first {
            throw StoreError.protocolError("append: \(refused.count) of \(batch.count) buckets refused: \(first.error)")
        }
    }

    /// Splits the batch into chunks of at most `appendChunk` buckets and about `appendChunkBytes`
    /// bytes; each chunk is one append script, applied on its own (no MULTI: a chunk Redis refuses,
    /// out of memory say, does not hold back the others) under its own marker `ID:CHUNK`, all sent in
    /// one pipeline. Buckets a script could not apply are returned; an error reply to a script
    /// (nothing of that chunk applied) or an unknown outcome throws.
    public func appendReporting(_ batch: [(key: BucketKey, data: BucketData)], flushID: String?,
                                dueAt: (BucketKey) -> Int64) throws -> [AppendRefusal] {
        guard !batch.isEmpty else { return [] }
        let flushID = flushID ?? FlushID.make()
        let now = WallClock.seconds()
        var commands = [RedisCommand("SCRIPT", "LOAD", RedisScripts.append.source)]
        var starts: [Int] = []
        var start = 0
        while start < batch.count {
            var held = HeldCounts(prefix: prefix)
            var buckets = RedisCommand()
            var end = start
            while end < batch.count && end - start < appendChunk && (end == start || buckets.bytes.count < appendChunkBytes) {
                let item = batch[end]
                let member = item.key.storeKey
                let due = dueAt(item.key)
                buckets.add(member)
                buckets.add(StorePartitioning.partition(ofStoreKey: member, partitions: partitions))
                buckets.add(due)
                buckets.add(Self.saturatingAdd(max(due, now), bucketTTL))
                buckets.add(writing: { BucketCodec.encode(item.data, into: &$0) })
                buckets.add(held.index(ofStoreKey: member))
                end += 1
            }
            var c = RedisCommand("EVALSHA", RedisScripts.append.sha1, "0", prefix, "\(flushID):\(starts.count)",
                                 String(Self.markerTTL))
            c.add(held.names.count)
            for name in held.names { c.add(name) }
            c.append(buckets)
            starts.append(start)
            commands.append(c)
            start = end
        }

        // Every chunk carries its own marker, so sending the same pipeline again is a no-op for what
        // was applied: a lost reply is retried here, with the same id, instead of by the caller.
        let giveUp = ContinuousClock.now + .seconds(lostReplyRetryWindow)
        var attempt = 0
        while true {
            do {
                let replies = try pool.withConnection(fresh: attempt > 0) { try $0.pipeline(commands) }
                return try appendRefusals(replies, starts: starts)
            } catch let e as RedisIOError {
                // Sent (maybe): the outcome is unknown until a retry with the same id answers.
                attempt += 1
                if ContinuousClock.now >= giveUp {
                    throw StoreError.unavailable("redis \(url.host):\(url.port): \(e.message) "
                        + "(a flush's reply was lost and Redis did not come back within \(lostReplyRetryWindow)s)")
                }
                Thread.sleep(forTimeInterval: min(0.5, 0.05 * Double(attempt)))
            } catch let e as StoreError {
                // Not connected: nothing was sent, unless an earlier attempt of this flush was.
                if attempt == 0 || ContinuousClock.now >= giveUp { throw e }
                attempt += 1
                Thread.sleep(forTimeInterval: min(0.5, 0.05 * Double(attempt)))
            }
        }
    }

    /// Reads the replies to SCRIPT LOAD and the chunks' scripts (chunk i starts at `starts[i]`).
    private func appendRefusals(_ replies: [RedisReply], starts: [Int]) throws -> [AppendRefusal] {
        guard replies.count == starts.count + 1 else { throw StoreError.protocolError("unexpected number of replies") }
        var refused: [AppendRefusal] = []
        for (chunk, reply) in replies.dropFirst().enumerated() {
            switch reply {
            case .error(let e):
                // The script did not run (NOSCRIPT after a failed SCRIPT LOAD, BUSY, …) or stopped
                // before writing: retry the batch under the same id.
                if let load = replies[0].errorText { throw StoreError.protocolError("append: SCRIPT LOAD: \(load); \(e)") }
                throw StoreError.protocolError("append script failed: \(e)")
            case .array(let a):
                guard case .integer = a.first, a.count % 2 == 1 else {
                    throw StoreError.protocolError("unexpected reply to the append script")
                }
                var i = 1
                while i + 1 < a.count {
                    guard case .integer(let index) = a[i] else { throw StoreError.protocolError("unexpected reply to the append script") }
                    let error: String
                    switch a[i + 1] {
                    case .string(let b): error = String(decoding: b, as: UTF8.self)
                    case .status(let t), .error(let t): error = t
                    default: error = "unknown error"
                    }
                    refused.append(AppendRefusal(index: starts[chunk] + Int(index), error: error))
                    i += 2
                }
            default:
                throw StoreError.protocolError("unexpected reply to the append script")
            }
        }
        return refused
    }

    // MARK: claim

    public func claim(partition: Int, now: Int64, limit: Int, lease: Int64, claimID: String?) throws -> [ClaimedBucket] {
        guard (0..<partitions).contains(partition) else {
            throw StoreError.protocolError("partition \(partition) out of range 0..<\(partitions)")
        }
        let leaseEnd = L2metStore.leaseEnd(now: now, lease: lease)
        // Named, so that sending it again after a lost reply hands out what it claimed (see the script).
        let claimID = claimID ?? FlushID.make()
        let reply = try eval(RedisScripts.claim, [prefix, String(partition), String(now), String(max(0, limit)),
                                                  String(leaseEnd), claimID, String(maxClaimExpiries)])
        guard case .array(let all) = reply, let head = all.first, case .integer(let setAside) = head,
              (all.count - 1) % 3 == 0 else {
            throw StoreError.protocolError("unexpected reply to claim")
        }
        let flat = Array(all.dropFirst())
        if !flat.isEmpty {
            // The reply is here: the record that would recover it is not needed any more (it expires
            // with the lease anyway).
            _ = try? pool.withConnection { try $0.pipeline([RedisCommand("UNLINK", prefix + "claim:" + claimID)]) }
        }
        if setAside > 0 {
            quarantined.wrappingAdd(Int(setAside), ordering: .relaxed)
        }
        var out: [ClaimedBucket] = []
        out.reserveCapacity(flat.count / 3)
        // Members that do not read back are acknowledged by their stored name, so they go for good.
        var corruptMembers: [String] = []
        var i = 0
        while i < flat.count {
            defer { i += 3 }
            guard case .string(let memberBytes) = flat[i] else { continue }
            let member = String(decoding: memberBytes, as: UTF8.self)
            guard let key = BucketKey(storeKey: member),
                  case .string(let bytes) = flat[i + 1], let data = BucketCodec.decode(bytes), data.kind == key.kind
            else {
                corruptMembers.append(member)
                continue
            }
            var attempts = 0
            if case .integer(let n) = flat[i + 2] { attempts = Int(clamping: n) }
            out.append(ClaimedBucket(key: key, data: data, attempts: attempts))
        }
        if !corruptMembers.isEmpty {
            corrupt.wrappingAdd(corruptMembers.count, ordering: .relaxed)
            try? acknowledge(members: corruptMembers)
        }
        return out
    }

    // MARK: acknowledge

    public func acknowledge(_ keys: [BucketKey]) throws {
        try acknowledge(members: keys.map(\.storeKey))
    }

    private func acknowledge(members: [String]) throws {
        guard !members.isEmpty else { return }
        var commands: [RedisCommand] = []
        var start = 0
        while start < members.count {
            let end = min(members.count, start + appendChunk)
            var held = HeldCounts(prefix: prefix)
            var buckets = RedisCommand()
            for m in members[start..<end] {
                buckets.add(m)
                buckets.add(StorePartitioning.partition(ofStoreKey: m, partitions: partitions))
                buckets.add(held.index(ofStoreKey: m))
            }
            var c = RedisCommand("EVALSHA", RedisScripts.acknowledge.sha1, "0", prefix)
            c.add(held.names.count)
            for name in held.names { c.add(name) }
            c.append(buckets)
            commands.append(c)
            start = end
        }
        // Idempotent: safe to send again after a lost reply.
        let replies = try withRetry { try self.evalPipeline(RedisScripts.acknowledge, commands, on: $0) }
        for r in replies {
            if let e = r.errorText { throw StoreError.protocolError("acknowledge: \(e)") }
        }
    }

    /// EVALSHA commands of `script` with `arguments`, then `member, partition` pairs for up to
    /// `appendChunk` members each.
    private func memberCommands(_ script: RedisScript, _ arguments: [String], _ members: [String]) -> [RedisCommand] {
        var commands: [RedisCommand] = []
        var start = 0
        while start < members.count {
            let end = min(members.count, start + appendChunk)
            var c = RedisCommand(["EVALSHA", script.sha1, "0"] + arguments)
            for m in members[start..<end] {
                c.add(m)
                c.add(StorePartitioning.partition(ofStoreKey: m, partitions: partitions))
            }
            commands.append(c)
            start = end
        }
        return commands
    }

    // MARK: reschedule

    public func reschedule(_ keys: [BucketKey], leaseEnd: Int64, dueAt: Int64, because reason: RescheduleReason) throws {
        guard !keys.isEmpty else { return }
        let commands = memberCommands(RedisScripts.reschedule, [prefix, String(leaseEnd), String(dueAt), reason.rawValue],
                                      keys.map(\.storeKey))
        // Safe to send again: a bucket given back is no longer leased until `leaseEnd`.
        let replies = try withRetry { try self.evalPipeline(RedisScripts.reschedule, commands, on: $0) }
        for r in replies {
            if let e = r.errorText { throw StoreError.protocolError("reschedule: \(e)") }
        }
    }

    // MARK: compact

    public func compact(partition: Int, limit: Int) throws -> Int {
        let popped = try withRetry { try $0.pipeline([RedisCommand("SPOP", prefix + "compact:\(partition)", String(max(1, limit)))])[0] }
        guard case .array(let members) = popped, !members.isEmpty else { return 0 }
        var compacted = 0
        for case .string(let memberBytes) in members {
            let member = String(decoding: memberBytes, as: UTF8.self)
            let value = try withRetry { try $0.pipeline([RedisCommand("GET", prefix + "b:" + member)])[0] }
            // Gone (claimed, delivered) or not ours to read: nothing to do.
            guard case .string(let records) = value, let merged = BucketCodec.decode(records) else { continue }
            var one: [UInt8] = []
            BucketCodec.encode(merged, into: &one)
            guard one.count < records.count else { continue }
            var c = RedisCommand("EVALSHA", RedisScripts.compact.sha1, "0", prefix, member, String(records.count),
                                 SHA1.hex(records))
            c.add(writing: { $0.append(contentsOf: one) })
            c.add(HeldCounts.name(prefix: prefix, ofStoreKey: member) ?? "")
            let reply = try withRetry { try self.evalPipeline(RedisScripts.compact, [c], on: $0)[0] }
            if let e = reply.errorText { throw StoreError.protocolError("compact: \(e)") }
            if case .integer(1) = reply { compacted += 1 }
        }
        return compacted
    }

    // MARK: held bytes

    /// The bytes of bucket records each of `tokens` (drain tokens, as in `BucketKey.token`) has in this
    /// Redis, appended and not yet acknowledged, in whatever state, counted by every process's scripts
    /// under `P held:SHA1HEX(TOKEN):HOUR` (see `HeldCounts`): the hours whose counts may still live
    /// at `now`, from `bucketTTL` (and two hours more) before `now` to the hour after it, in one `MGET`.
    /// Every token is in the result, 0 when it holds nothing.
    public func heldBytes(tokens: [String], now: Int64) throws -> [String: Int] {
        var seen = Set<String>()
        let unique = tokens.filter { seen.insert($0).inserted }
        guard !unique.isEmpty else { return [:] }
        let hours = Self.heldHours(now: now, bucketTTL: bucketTTL)
        var command = RedisCommand("MGET")
        command.reserve(bytes: unique.count * hours.count * (prefix.utf8.count + 60), arguments: 1 + unique.count * hours.count)
        for token in unique {
            let name = HeldCounts.namePrefix(prefix: prefix, token: token)
            for hour in hours { command.add(name + String(hour)) }
        }
        let reply = try withRetry { try $0.pipeline([command])[0] }
        if let e = reply.errorText { throw StoreError.protocolError("held bytes: \(e)") }
        guard case .array(let values) = reply, values.count == unique.count * hours.count else {
            throw StoreError.protocolError("unexpected reply to held bytes")
        }
        var out: [String: Int] = [:]
        out.reserveCapacity(unique.count)
        for (i, token) in unique.enumerated() {
            var sum = 0
            for value in values[(i * hours.count)..<((i + 1) * hours.count)] {
                guard case .string(let bytes) = value, let n = Int(String(decoding: bytes, as: UTF8.self)), n > 0 else { continue }
                sum = sum.addingReportingOverflow(n).overflow ? Int.max : sum + n
            }
            out[token] = sum
        }
        return out
    }

    /// The name of the held count of `key`'s drain and hour (for tests and tools).
    func heldKey(_ key: BucketKey) -> String {
        HeldCounts.name(prefix: prefix, ofStoreKey: key.storeKey) ?? ""
    }

    static func hour(of time: Int64) -> Int64 { HeldCounts.hour(of: time) }

    /// The hours whose held counts may live at `now`: a bucket's data (and its hour's count, which
    /// expires with the latest of them) lives `bucketTTL` after its due time, at most an hour or so
    /// after the end of its interval; bucket times run at most a minute ahead of the clock. At most a
    /// year of hours.
    static func heldHours(now: Int64, bucketTTL: Int64) -> ClosedRange<Int64> {
        let (oldest, overflow) = now.subtractingReportingOverflow(max(0, bucketTTL))
        let high = hour(of: now) + 1
        let low = overflow ? high - 24 * 366 : max(high - 24 * 366, hour(of: oldest) - 2)
        return low...high
    }

    // MARK: backlog

    public func backlog(now: Int64) throws -> StoreBacklog {
        var commands: [RedisCommand] = []
        for p in 0..<partitions {
            let due = prefix + "due:\(p)", retrying = prefix + "retrying:\(p)"
            commands.append(RedisCommand("ZCOUNT", due, "-inf", String(now)))
            commands.append(RedisCommand("ZCARD", due))
            commands.append(RedisCommand("ZCARD", prefix + "claimed:\(p)"))
            commands.append(RedisCommand("ZCARD", retrying))
            commands.append(RedisCommand("ZRANGE", retrying, "0", "0", "WITHSCORES"))
            commands.append(RedisCommand("ZRANGE", due, "0", "0", "WITHSCORES"))
            commands.append(RedisCommand("ZCARD", prefix + "quarantine:\(p)"))
        }
        let replies = try withRetry { try $0.pipeline(commands) }
        func integer(_ r: RedisReply) throws -> Int {
            guard case .integer(let n) = r else { throw StoreError.protocolError("unexpected reply to backlog") }
            return Int(clamping: n)
        }
        func lowest(_ r: RedisReply) -> Int64? {
            guard case .array(let a) = r, a.count == 2, case .string(let bytes) = a[1] else { return nil }
            return Double(String(decoding: bytes, as: UTF8.self)).map { Int64($0) }
        }
        var b = StoreBacklog()
        for p in 0..<partitions {
            let r = replies[(p * 7)..<(p * 7 + 7)].map { $0 }
            let dueNow = try integer(r[0])
            b.due += dueNow
            b.scheduled += try integer(r[1]) - dueNow
            b.claimed += try integer(r[2])
            b.retrying += try integer(r[3])
            if let end = lowest(r[4]) { b.oldestRetryingEnd = min(b.oldestRetryingEnd ?? end, end) }
            if let due = lowest(r[5]) { b.earliestDue = min(b.earliestDue ?? due, due) }
            b.quarantined += try integer(r[6])
        }
        return b
    }

    // MARK: ping

    public func ping() throws {
        let reply = try withRetry { try $0.pipeline([RedisCommand("PING")])[0] }
        switch reply {
        case .status("PONG"): return
        case .error(let e): throw StoreError.unavailable("redis \(url.host):\(url.port): PING: \(e)")
        default: throw StoreError.protocolError("unexpected reply to PING")
        }
    }

    // MARK: helpers

    /// Runs one script (EVALSHA, falling back to EVAL when Redis does not know it).
    private func eval(_ script: RedisScript, _ args: [String]) throws -> RedisReply {
        var c = RedisCommand("EVALSHA", script.sha1, "0")
        for a in args { c.add(a) }
        let reply = try withRetry { try self.evalPipeline(script, [c], on: $0)[0] }
        if let e = reply.errorText { throw StoreError.protocolError("script: \(e)") }
        return reply
    }

    /// Sends EVALSHA commands; if Redis answers NOSCRIPT (restarted, SCRIPT FLUSH), sends them again
    /// as EVAL with the source (which also caches the script for next time).
    private func evalPipeline(_ script: RedisScript, _ commands: [RedisCommand],
                              on connection: RedisConnection) throws -> [RedisReply] {
        var replies = try connection.pipeline(commands)
        let missing = replies.indices.filter { replies[$0].errorText?.hasPrefix("NOSCRIPT") ?? false }
        if !missing.isEmpty {
            let again = missing.map { i -> RedisCommand in
                var c = RedisCommand("EVAL", script.source)
                var args = commands[i].arguments
                args.removeFirst(2)  // "EVALSHA", sha
                for a in args { c.add(a) }
                return c
            }
            let more = try connection.pipeline(again)
            for (i, r) in zip(missing, more) { replies[i] = r }
        }
        return replies
    }

    /// Runs `body` on a pooled connection; after an I/O error it tries once more on a fresh
    /// connection (an idle connection may have died with a Redis restart). Only for calls that are
    /// safe to repeat. Errors come out as `StoreError`.
    private func withRetry<T>(_ body: (RedisConnection) throws -> T) throws -> T {
        do {
            return try pool.withConnection(body)
        } catch let e as RedisIOError {
            do {
                return try pool.withConnection(fresh: true, body)
            } catch let again as RedisIOError {
                throw StoreError.unavailable("redis \(url.host):\(url.port): \(again.message) (first: \(e.message))")
            }
        }
    }

    private static func saturatingAdd(_ a: Int64, _ b: Int64) -> Int64 {
        let (r, o) = a.addingReportingOverflow(b)
        return o ? (b > 0 ? Int64.max : Int64.min) : r
    }
}
