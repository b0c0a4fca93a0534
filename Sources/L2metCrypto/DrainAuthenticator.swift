import L2metCore
import Synchronization

/// Turns a drain request's `Authorization` header into its credentials, and a bucket's token into
/// its destination for the outlet.
///
/// Successful decryptions are cached (bounded), so a busy drain pays AES + HMAC once rather than on
/// every request: keyed by the whole `Authorization` value for drains (a hit costs one lookup, no
/// base64) and by the token for the outlet. Failures are not cached. Thread-safe.
/// With no keyring (local mode) every drain is accepted with token "" and destination `.local`.
public final class DrainAuthenticator: Sendable {
    /// Entries kept by default.
    public static let defaultCacheCapacity = 10_000
    /// Longest key (`Authorization` value or token) that is cached. A drain's header is a few
    /// hundred bytes; a longer one (a Basic password of kilobytes next to a valid token, say) is
    /// decrypted every time instead of letting clients fill the cache with 16 KB keys.
    public static let maxCachedKeyBytes = 4096

    private let keyring: Keyring?
    private let cacheCapacity: Int
    private let cache = Mutex<[String: DrainCredentials]>([:])

    /// `keyring` nil = local mode. `cacheCapacity` 0 turns the cache off (for benchmarks).
    public init(keyring: Keyring?, cacheCapacity: Int = DrainAuthenticator.defaultCacheCapacity) {
        self.keyring = keyring
        self.cacheCapacity = max(0, cacheCapacity)
    }

    /// True in local mode (no keyring).
    public var isLocalMode: Bool { keyring == nil }

    /// Entries in the cache now.
    public var cachedCount: Int { cache.withLock { $0.count } }

    /// The credentials of a drain request: `authorization` is the `Authorization` header (nil when
    /// absent), `now` epoch seconds. Drain tokens have no TTL; a token dated more than 60 s ahead of
    /// `now` is refused.
    public func authenticate(authorization: String?, now: Int64) -> Result<DrainCredentials, DrainAuthError> {
        guard keyring != nil else { return .success(DrainCredentials(token: "", destination: .local)) }
        guard let authorization else { return .failure(.missingCredentials) }
        // One cache for both kinds of key: a cached header always holds a space, a cached token never does.
        if let hit = cached(authorization) { return .success(hit) }
        guard let token = BasicAuthorization.user(of: authorization) else {
            return .failure(authorization.utf8.allSatisfy { $0 == 0x20 || $0 == 0x09 } ? .missingCredentials : .notBasic)
        }
        do {
            let credentials = DrainCredentials(token: token, destination: try resolve(token, now: now))
            remember(authorization, credentials)
            return .success(credentials)
        } catch {
            return .failure(error)
        }
    }

    /// The destination of a bucket's token (for the outlet). In local mode "" is `.local`; any other
    /// token cannot be read there and throws. Throws `DrainAuthError`.
    public func destination(forToken token: String, now: Int64) throws -> Destination {
        guard keyring != nil else {
            if token.isEmpty { return .local }
            throw DrainAuthError.undecryptable(.noKey)
        }
        guard !token.isEmpty else { throw DrainAuthError.missingCredentials }
        return try resolve(token, now: now)
    }

    /// Cache lookup, else decrypt + parse, then remember.
    private func resolve(_ token: String, now: Int64) throws(DrainAuthError) -> Destination {
        if let hit = cached(token) { return hit.destination }
        guard let keyring else { throw .undecryptable(.noKey) }
        let plaintext: String
        do {
            plaintext = try keyring.decrypt(token, now: now)
        } catch let error as FernetError {
            throw .undecryptable(error)
        } catch {
            throw .undecryptable(.badHMAC)
        }
        let destination: Destination
        do {
            destination = try Destination(plaintext: plaintext)
        } catch let error as DestinationError {
            throw .badDestination(error)
        } catch {
            throw .badDestination(.malformed("unreadable"))
        }
        remember(token, DrainCredentials(token: token, destination: destination))
        return destination
    }

    private func cached(_ key: String) -> DrainCredentials? {
        guard cacheCapacity > 0 else { return nil }
        return cache.withLock { $0[key] }
    }

    private func remember(_ key: String, _ credentials: DrainCredentials) {
        guard cacheCapacity > 0, key.utf8.count <= Self.maxCachedKeyBytes else { return }
        cache.withLock { cache in
            if cache.count >= cacheCapacity, cache[key] == nil {
                cache.remove(at: cache.startIndex)   // evict one arbitrary entry
            }
            cache[key] = credentials
        }
    }
}
