/// Bytes of request bodies held across all workers, for `maxBufferedBodyBytes`.
final class BodyBudget: @unchecked Sendable {
    private let lock = Lock()
    private var held = 0

    /// Takes `bytes` unless that would go past `limit`.
    func take(_ bytes: Int, limit: Int) -> Bool {
        lock.withLock {
            guard held + bytes <= limit else { return false }
            held += bytes
            return true
        }
    }

    func give(_ bytes: Int) { lock.withLock { held -= bytes } }

    var current: Int { lock.withLock { held } }
}
