import Foundation

/// A `FrameLedger` in Redis, shared by every receiver of that Redis, on `RedisStore`'s connections.
///
/// Invariant: one string key per body, `PREFIX frame:SHA1(token):SHA1(frame id)`, holding `pending`
/// (`SET NX EX pendingLease`, so exactly one receiver starts a body) or `done` (`SET EX window`,
/// written even when the pending marker is gone: the body was taken);
/// `release` deletes it. Every key expires: nothing is left behind by a receiver that died.
public final class RedisFrameLedger: FrameLedger, Sendable {
    public let window: Int
    private let pendingTTL: Int
    private let store: RedisStore

    public init(store: RedisStore, window: Int, pendingLease: Int = FrameLedgerDefaults.pendingLease) {
        self.store = store
        self.window = max(1, window)
        pendingTTL = max(1, min(self.window, pendingLease))
    }

    /// The marker's key name.
    func redisKey(_ key: FrameKey) -> String {
        store.prefix + "frame:" + key.tokenHash + ":" + key.frameHash
    }

    public func begin(_ key: FrameKey) throws -> FrameStart {
        let name = redisKey(key)
        // SET NX decides; the GET in the same round trip says what the marker is when it was there already.
        let commands = [RedisCommand("SET", name, "pending", "NX", "EX", String(pendingTTL)), RedisCommand("GET", name)]
        for _ in 0..<2 {
            let replies = try run(commands)
            guard replies.count == 2 else { throw StoreError.protocolError("unexpected number of replies to SET NX, GET") }
            if let e = replies[0].errorText ?? replies[1].errorText { throw StoreError.protocolError("frame marker: \(e)") }
            if case .status("OK") = replies[0] { return .started }
            switch replies[1] {
            case .string(let value) where value == Array("done".utf8): return .done
            case .string: return .pending
            case .null: continue  // expired between the two commands: try again
            default: throw StoreError.protocolError("unexpected reply to GET of a frame marker")
            }
        }
        return .pending
    }

    public func finish(_ key: FrameKey) throws {
        let reply = try run([RedisCommand("SET", redisKey(key), "done", "EX", String(window))])[0]
        if let e = reply.errorText { throw StoreError.protocolError("frame marker: \(e)") }
    }

    public func release(_ key: FrameKey) throws {
        let reply = try run([RedisCommand("DEL", redisKey(key))])[0]
        if let e = reply.errorText { throw StoreError.protocolError("frame marker: \(e)") }
    }

    /// Sends `commands` on a pooled connection; after an I/O error, once more on a fresh one (an idle
    /// connection may have died with a Redis restart). Every command here is safe to repeat: a `SET NX`
    /// whose reply was lost reads back as `pending`, which only delays that body until the lease ends.
    private func run(_ commands: [RedisCommand]) throws -> [RedisReply] {
        do {
            return try store.pool.withConnection { try $0.pipeline(commands) }
        } catch let first as RedisIOError {
            do {
                return try store.pool.withConnection(fresh: true) { try $0.pipeline(commands) }
            } catch let again as RedisIOError {
                throw StoreError.unavailable("redis \(store.url.host):\(store.url.port): \(again.message) (first: \(first.message))")
            }
        }
    }
}
