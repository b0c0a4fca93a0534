/// Names one drain body for a `FrameLedger`: the SHA-1 (hex) of the drain token and of the body's
/// `Logplex-Frame-Id`.
///
/// Invariant: holds the two hashes only, never the token or the id, so a marker named after it
/// shows no credentials.
public struct FrameKey: Hashable, Sendable {
    public let tokenHash: String
    public let frameHash: String

    public init(token: String, frameID: String) {
        tokenHash = SHA1.hex(Array(token.utf8))
        frameHash = SHA1.hex(Array(frameID.utf8))
    }
}

/// What `FrameLedger.begin` found for a body.
public enum FrameStart: Sendable, Equatable {
    /// The body is new: this caller takes it, then calls `finish` (answered 200) or `release`.
    case started
    /// The body was taken within the window: answer 200 and do not count it again.
    case done
    /// Another receiver is taking the same body right now: answer 503, the drain sends it again.
    case pending
}

/// Which drain bodies (drain token, `Logplex-Frame-Id`) were taken in the last `window` seconds, so
/// that a body logplex sends again (no answer seen in time) is counted once, also across receivers
/// sharing one store.
///
/// A body's marker is `pending` from `begin` until `finish` (then `done` for `window` seconds) or
/// `release` (then gone, so the drain's next attempt is taken). A `pending` marker lasts at most
/// `pendingLease` seconds (never more than `window`): a receiver that dies while taking a body, or
/// cannot reach the store to release it, blocks that body's retries only that long, never loses it.
/// Calls throw `StoreError` when the store cannot be reached; the caller then takes the body without
/// the check (counted at least once rather than lost).
public protocol FrameLedger: AnyObject, Sendable {
    /// Seconds a taken body's marker lasts.
    var window: Int { get }
    /// Marks `key` pending when it has no marker; otherwise says what its marker is.
    func begin(_ key: FrameKey) throws -> FrameStart
    /// The body of `key` was taken (answered 200): its marker becomes `done` for `window` seconds.
    func finish(_ key: FrameKey) throws
    /// The body of `key` was not taken (answered anything but 200): its marker goes.
    func release(_ key: FrameKey) throws
}

/// Defaults the ledgers share.
public enum FrameLedgerDefaults {
    /// Seconds a `pending` marker lasts at most: far more than taking one body into memory takes.
    public static let pendingLease = 30
}
