/// The Lua scripts `RedisStore` runs (see docs/redis-schema.md). Each runs atomically in Redis.
/// Keys are built inside the scripts from the prefix, so this schema is for a single Redis (or a
/// primary with replicas), not Redis Cluster.
enum RedisScripts {
    /// Lua shared by the scripts that delete or rewrite bucket data: `heldAdjust(h, delta)` adds
    /// `delta` (negative: bytes deleted) to the held count `h` (`P held:SHA1HEX(TOKEN):HOUR`, see
    /// `HeldCounts`) only when it exists, so it never makes a key without a TTL (`INCRBY` keeps the
    /// TTL), and deletes the count once it is 0 or less. Errors are ignored (`pcall`): the accounting
    /// never stops the data's own writes.
    static let heldAdjust = """
        local function heldAdjust(h, delta)
          if h == '' or delta == 0 or redis.call('EXISTS', h) == 0 then return end
          local v = redis.pcall('INCRBY', h, delta)
          if type(v) == 'number' and v <= 0 then redis.pcall('DEL', h) end
        end
        """

    /// Appends one chunk of a flush. ARGV: prefix, marker (unique per flush and chunk), marker TTL,
    /// the number G of held counts, their names (`HeldCounts`), then per bucket: member (store key),
    /// partition, due time, expire-at, data (BucketCodec record), the 1-based index of its held count
    /// (0: not counted).
    ///
    /// Each bucket is applied whole or not at all, and the script reports which were not: Redis does
    /// not roll a script back when a command fails, so every write goes through `redis.pcall` and a
    /// failure is recorded instead of ending the script half-way. Per bucket, the index entry is added
    /// first (`ZADD NX`: repeating it changes nothing, and an entry without data is dropped by the next
    /// claim), then the data is appended (the one write that must not happen twice; a refused `APPEND`
    /// writes nothing), then its expiry is set. The flush marker is written **last**, holding the
    /// failures, so a retry under the same marker (a lost reply) answers the same report and applies
    /// nothing again, and a chunk whose every write was refused (OOM) leaves no marker at all. Just
    /// before the marker, the bytes of the records applied are added to their held counts, one `INCRBY`
    /// per count, whose expiry is moved to the latest expire-at of the buckets it counts unless it
    /// already expires as late (never earlier: `PTTL` against `TIME`, read to the second it was set to).
    /// Returns `{applied, i1, err1, i2, err2, …}`: the number of buckets applied, then the 0-based index
    /// of each bucket not applied with Redis's error; `applied` is -1 when the marker already existed
    /// (the failures are those of the first run).
    static let append = RedisScript("""
        local prefix = ARGV[1]
        local marker = prefix .. 'flush:' .. ARGV[2]
        local done = redis.call('GET', marker)
        if done then
          local out = {-1}
          for i, e in string.gmatch(done, '(%d+) ([^\\n]*)\\n') do
            out[#out + 1] = tonumber(i)
            out[#out + 1] = e
          end
          return out
        end
        local function failed(r)
          if type(r) == 'table' and r.err then return r.err end
          return nil
        end
        local groups = tonumber(ARGV[4])
        local heldBytes, heldAt, heldAtArg = {}, {}, {}
        for g = 1, groups do heldBytes[g], heldAt[g] = 0, -1 end
        local n, out, report = 0, {0}, {}
        local j = 0
        for i = 5 + groups, #ARGV, 6 do
          local m, p, due = ARGV[i], ARGV[i + 1], ARGV[i + 2]
          local b = prefix .. 'b:' .. m
          local r = redis.pcall('ZSCORE', prefix .. 'claimed:' .. p, m)
          local e = failed(r)
          if not e then
            local index = r and (prefix .. 'waiting:' .. p) or (prefix .. 'due:' .. p)
            e = failed(redis.pcall('ZADD', index, 'NX', due, m))
          end
          local length = nil
          if not e then
            length = redis.pcall('APPEND', b, ARGV[i + 4])
            e = failed(length)
          end
          if not e and length > 262144 then
            -- Past 256 KiB of records: an outlet merges them into one (see `compact`).
            redis.pcall('SADD', prefix .. 'compact:' .. p, m)
          end
          if e then
            e = string.gsub(e, '\\n', ' ')
            out[#out + 1] = j
            out[#out + 1] = e
            report[#report + 1] = j .. ' ' .. e .. '\\n'
          else
            redis.pcall('EXPIREAT', b, ARGV[i + 3])
            n = n + 1
            local g = tonumber(ARGV[i + 5])
            if g > 0 then
              heldBytes[g] = heldBytes[g] + #ARGV[i + 4]
              local at = tonumber(ARGV[i + 3])
              if at > heldAt[g] then heldAt[g], heldAtArg[g] = at, ARGV[i + 3] end
            end
          end
          j = j + 1
        end
        out[1] = n
        if n > 0 then
          local time = redis.call('TIME')
          local nowMs = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
          for g = 1, groups do
            if heldBytes[g] > 0 then
              local h = ARGV[4 + g]
              if not failed(redis.pcall('INCRBY', h, heldBytes[g])) then
                local ttl = redis.call('PTTL', h)
                if ttl < 0 or math.floor((nowMs + ttl) / 1000 + 0.5) < heldAt[g] then
                  redis.pcall('EXPIREAT', h, heldAtArg[g])
                end
              end
            end
          end
          redis.pcall('SET', marker, table.concat(report), 'EX', ARGV[3])
        end
        return out
        """)

    /// Lua shared by `claim` and `reschedule`: gives member `m` of partition `p` back from its claim.
    /// Its claimed and waiting entries go; a part appended while it was claimed is merged with its
    /// claimed data (`c:` then `b:`) under its data key; it is due again at `score` if it has data.
    /// Returns true when it has data (and is due again).
    static let unclaim = """
        local function unclaim(prefix, p, m, score)
          local b, c = prefix .. 'b:' .. m, prefix .. 'c:' .. m
          redis.call('ZREM', prefix .. 'claimed:' .. p, m)
          redis.call('ZREM', prefix .. 'waiting:' .. p, m)
          if redis.call('EXISTS', c) == 1 then
            if redis.call('EXISTS', b) == 1 then
              redis.call('APPEND', c, redis.call('GET', b))
            end
            redis.call('RENAME', c, b)
          end
          if redis.call('EXISTS', b) == 1 then
            redis.call('ZADD', prefix .. 'due:' .. p, score, m)
            return true
          end
          return false
        end
        """

    /// Claims due buckets of one partition. ARGV: prefix, partition, now, limit, lease end.
    /// First every claim whose lease ended by `now` is due again (its data merged with any part
    /// appended meanwhile); then up to `limit` members of the due set with score <= now have their
    /// data renamed to the claimed-data key and are entered in the claimed set at the lease end.
    /// A member whose data is gone (expired) loses its retry state.
    ///
    /// A claim whose lease ran out without being settled (its outlet crashed or stalled) counts one
    /// expiry for each of its members; a member past ARGV[7] expiries is set aside in the quarantine
    /// set instead of being due again, so a bucket that kills its outlet cannot do so for ever.
    ///
    /// ARGV[6], when not empty, names the claim: what it claims is recorded under `P claim:ID` (for
    /// the lease, at most a day), and a call with the same name returns what is recorded (still leased
    /// to it) without claiming more, so a claim whose reply was lost is recovered by sending it again,
    /// not a lease later. The caller deletes the record once it has the reply.
    /// Returns a flat array: number set aside, then member, data, failed attempts, member, …
    static let claim = RedisScript("""
        \(unclaim)
        local prefix, p, now, limit, leaseEnd = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
        local claimID, maxExpiries = ARGV[6] or '', tonumber(ARGV[7] or '0')
        local dueKey = prefix .. 'due:' .. p
        local claimedKey = prefix .. 'claimed:' .. p
        local triesKey = prefix .. 'tries:' .. p
        local record = prefix .. 'claim:' .. claimID
        if claimID ~= '' and redis.call('EXISTS', record) == 1 then
          local out = {0}
          for _, m in ipairs(redis.call('LRANGE', record, 0, -1)) do
            local score = redis.call('ZSCORE', claimedKey, m)
            if score and tonumber(score) == tonumber(leaseEnd) then
              out[#out + 1] = m
              out[#out + 1] = redis.call('GET', prefix .. 'c:' .. m)
              out[#out + 1] = tonumber(redis.call('HGET', triesKey, m) or '0')
            end
          end
          return out
        end
        local setAside = 0
        local expiriesKey = prefix .. 'expiries:' .. p
        local expired = redis.call('ZRANGEBYSCORE', claimedKey, '-inf', now, 'WITHSCORES', 'LIMIT', 0, 10000)
        for i = 1, #expired, 2 do
          local m = expired[i]
          if unclaim(prefix, p, m, expired[i + 1]) then
            local n = redis.call('HINCRBY', expiriesKey, m, 1)
            if maxExpiries > 0 and n > maxExpiries then
              redis.call('ZREM', dueKey, m)
              redis.call('ZADD', prefix .. 'quarantine:' .. p, now, m)
              redis.call('HDEL', expiriesKey, m)
              setAside = setAside + 1
            end
          else
            redis.call('HDEL', expiriesKey, m)
          end
        end
        local out = {setAside}
        if limit <= 0 then return out end
        local due = redis.call('ZRANGEBYSCORE', dueKey, '-inf', now, 'LIMIT', 0, limit)
        for _, m in ipairs(due) do
          redis.call('ZREM', dueKey, m)
          local b, c = prefix .. 'b:' .. m, prefix .. 'c:' .. m
          if redis.call('EXISTS', b) == 1 then
            redis.call('RENAME', b, c)
            redis.call('ZADD', claimedKey, leaseEnd, m)
            out[#out + 1] = m
            out[#out + 1] = redis.call('GET', c)
            out[#out + 1] = tonumber(redis.call('HGET', triesKey, m) or '0')
            if claimID ~= '' then redis.call('RPUSH', record, m) end
          else
            redis.call('HDEL', triesKey, m)
            redis.call('ZREM', prefix .. 'retrying:' .. p, m)
            redis.call('HDEL', expiriesKey, m)
          end
        end
        if claimID ~= '' and #out > 1 then
          redis.call('EXPIRE', record, math.max(1, math.min(86400, tonumber(leaseEnd) - tonumber(now))))
        end
        return out
        """)

    /// Acknowledges claimed buckets. ARGV: prefix, the number G of held counts, their names
    /// (`HeldCounts`), then per bucket: member, partition, the 1-based index of its held count (0: none).
    /// Deletes the claimed data, the claimed-set entry and the retry state; a part appended during
    /// the claim becomes due. The bytes deleted (`STRLEN` before `DEL`) leave their held counts.
    static let acknowledge = RedisScript("""
        \(heldAdjust)
        local prefix, groups = ARGV[1], tonumber(ARGV[2])
        local deleted = {}
        for g = 1, groups do deleted[g] = 0 end
        for i = 3 + groups, #ARGV, 3 do
          local m, p, g = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
          local c = prefix .. 'c:' .. m
          local size = redis.pcall('STRLEN', c)
          redis.call('DEL', c)
          if g > 0 and type(size) == 'number' then deleted[g] = deleted[g] + size end
          redis.call('ZREM', prefix .. 'claimed:' .. p, m)
          redis.call('HDEL', prefix .. 'tries:' .. p, m)
          redis.call('ZREM', prefix .. 'retrying:' .. p, m)
          redis.call('HDEL', prefix .. 'expiries:' .. p, m)
          local waitingKey = prefix .. 'waiting:' .. p
          local w = redis.call('ZSCORE', waitingKey, m)
          if w then
            redis.call('ZREM', waitingKey, m)
            if redis.call('EXISTS', prefix .. 'b:' .. m) == 1 then
              redis.call('ZADD', prefix .. 'due:' .. p, 'NX', w, m)
            end
          end
        end
        for g = 1, groups do heldAdjust(ARGV[2 + g], -deleted[g]) end
        return (#ARGV - 2 - groups) / 3
        """)
}

extension RedisScripts {
    /// Gives claims back before their lease ends. ARGV: prefix, lease end, due time, reason
    /// (`released`, `deferred`, `failed`), then per bucket: member, partition. A member still claimed
    /// until exactly that lease end is treated as an expired claim (data merged with any waiting
    /// part), due again at the due time; others are left alone. `deferred` and `failed` enter it in
    /// the retrying set (scored by its interval end, read from the member `TOKEN|RES|TIME|…`);
    /// `failed` adds one to its attempts. Returns the number given back.
    static let reschedule = RedisScript("""
        \(unclaim)
        local prefix, leaseEnd, due, reason = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
        local n = 0
        for i = 5, #ARGV, 2 do
          local m, p = ARGV[i], ARGV[i + 1]
          local score = redis.call('ZSCORE', prefix .. 'claimed:' .. p, m)
          if score and tonumber(score) == leaseEnd then
            redis.call('HDEL', prefix .. 'expiries:' .. p, m)
            if unclaim(prefix, p, m, due) and reason ~= 'released' then
              local r, t = string.match(m, '^[^|]*|(%d+)|(%-?%d+)|')
              redis.call('ZADD', prefix .. 'retrying:' .. p, 'NX', (tonumber(t) or 0) + (tonumber(r) or 0), m)
              if reason == 'failed' then
                redis.call('HINCRBY', prefix .. 'tries:' .. p, m, 1)
              end
            end
            n = n + 1
          end
        end
        return n
        """)
}

extension RedisScripts {
    /// Replaces the first records of a bucket's data by their merge. ARGV: prefix, member, length of
    /// the records merged, their SHA-1 (hex), the merged record, the member's held count (`HeldCounts`;
    /// empty: none). Only when the data still starts with exactly those bytes (appends since then stay
    /// after them; a claim in between moved the data away): returns 1, else 0 and nothing is changed.
    /// The key keeps its TTL; the held count changes by the change of size.
    static let compact = RedisScript("""
        \(heldAdjust)
        local prefix, m, length, sha = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
        local b = prefix .. 'b:' .. m
        local current = redis.call('GET', b)
        if not current or #current < length then return 0 end
        if redis.sha1hex(string.sub(current, 1, length)) ~= sha then return 0 end
        local merged = ARGV[5] .. string.sub(current, length + 1)
        redis.call('SET', b, merged, 'KEEPTTL')
        heldAdjust(ARGV[6] or '', #merged - #current)
        return 1
        """)
}

/// A Lua script and its SHA-1 (for EVALSHA).
struct RedisScript: Sendable {
    let source: String
    let sha1: String

    init(_ source: String) {
        self.source = source
        sha1 = SHA1.hex(Array(source.utf8))
    }
}
