import L2metCore
import Synchronization
import XCTest
@testable import L2metCrypto

/// Drain credentials: the header, the cache, the failures, local mode.
final class DrainAuthenticatorTests: XCTestCase {
    let now: Int64 = 1_700_000_000
    private func header(_ token: String) -> String { "Basic " + Data((token + ":").utf8).base64EncodedString() }

    func testAcceptsALibratoToken() throws {
        let keyring = try Keyring(secrets: Fernet.generateKey())
        let token = keyring.encrypt("librato@example.com:secret-token", now: now)
        let auth = DrainAuthenticator(keyring: keyring)
        let credentials = try auth.authenticate(authorization: header(token), now: now).get()
        XCTAssertEqual(credentials, DrainCredentials(token: token,
                                                     destination: .librato(user: "librato@example.com", token: "secret-token", url: nil)))
        XCTAssertEqual(try auth.destination(forToken: token, now: now), credentials.destination)
    }

    func testOtherDestinations() throws {
        let keyring = try Keyring(secrets: Fernet.generateKey())
        let auth = DrainAuthenticator(keyring: keyring)
        let otlp = keyring.encrypt("otlp+https://otel.example.com/v1/metrics#x-api-key=k", now: now)
        XCTAssertEqual(try auth.authenticate(authorization: header(otlp), now: now).get().destination,
                       .otlp(url: "https://otel.example.com/v1/metrics", headers: [("x-api-key", "k")]))
    }

    func testFailuresNeverQuoteTheToken() throws {
        let keyring = try Keyring(secrets: Fernet.generateKey())
        let auth = DrainAuthenticator(keyring: keyring)
        let foreign = try Keyring(secrets: Fernet.generateKey()).encrypt("u:t", now: now)
        let unknownScheme = keyring.encrypt("ftp://secret-host/x", now: now)
        let malformed = keyring.encrypt("otlp+https://h/v1#leaky-secret-header", now: now)
        let notDestination = keyring.encrypt("no-colon-here", now: now)
        let future = keyring.encrypt("u:t", now: now + 3600)
        let cases: [(String?, DrainAuthError, [String])] = [
            (nil, .missingCredentials, []),
            ("", .missingCredentials, []),
            ("Bearer abc", .notBasic, ["abc"]),
            ("Basic !!!", .notBasic, ["!!!"]),
            (header(foreign), .undecryptable(.badHMAC), [foreign]),
            (header("not-a-token"), .undecryptable(.badBase64), ["not-a-token"]),
            (header(future), .undecryptable(.fromTheFuture), [future]),
            (header(unknownScheme), .badDestination(.unknownScheme("ftp")), [unknownScheme, "secret-host"]),
            (header(malformed), .badDestination(.malformed("otlp header leaky-secret-header has no value")),
             [malformed, "leaky-secret-header"]),
            (header(notDestination), .badDestination(.malformed("expected user:token")), [notDestination, "no-colon-here"]),
        ]
        for (authorization, expected, secrets) in cases {
            switch auth.authenticate(authorization: authorization, now: now) {
            case .success: XCTFail("accepted \(authorization ?? "nil")")
            case .failure(let error):
                XCTAssertEqual(error, expected)
                for secret in secrets { XCTAssertFalse("\(error)".contains(secret), "\(error)") }
            }
        }
        XCTAssertEqual(auth.cachedCount, 0, "failures are not cached")
        XCTAssertThrowsError(try auth.destination(forToken: "", now: now)) {
            XCTAssertEqual($0 as? DrainAuthError, .missingCredentials)
        }
        XCTAssertThrowsError(try auth.destination(forToken: foreign, now: now)) {
            XCTAssertEqual($0 as? DrainAuthError, .undecryptable(.badHMAC))
        }
    }

    func testCacheServesRepeatsAndIsShared() throws {
        let keyring = try Keyring(secrets: Fernet.generateKey())
        let auth = DrainAuthenticator(keyring: keyring)
        let token = keyring.encrypt("u:t", now: now)
        XCTAssertEqual(auth.cachedCount, 0)
        _ = try auth.authenticate(authorization: header(token), now: now).get()
        XCTAssertEqual(auth.cachedCount, 2, "the header (for drains) and the token (for the outlet)")
        // A cached token is served without decrypting: even at a `now` where decryption would refuse it
        // (drain tokens have no TTL, so only the skew check depends on `now`).
        XCTAssertEqual(try auth.authenticate(authorization: header(token), now: now - 3600).get().destination,
                       .librato(user: "u", token: "t", url: nil))
        XCTAssertEqual(try auth.destination(forToken: token, now: now - 3600), .librato(user: "u", token: "t", url: nil))
        // Another spelling of the same credentials (URL-safe, unpadded) decodes the header but still
        // finds the token cached.
        let urlSafe = header(token).replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        XCTAssertEqual(try auth.authenticate(authorization: urlSafe, now: now - 3600).get().token, token)
        XCTAssertEqual(auth.cachedCount, urlSafe == header(token) ? 2 : 3)
        // Without the cache, the same call decrypts and refuses.
        let uncached = DrainAuthenticator(keyring: keyring, cacheCapacity: 0)
        XCTAssertEqual(try uncached.authenticate(authorization: header(token), now: now).get().token, token)
        XCTAssertEqual(uncached.cachedCount, 0)
        guard case .failure(.undecryptable(.fromTheFuture)) = uncached.authenticate(authorization: header(token), now: now - 3600)
        else { return XCTFail("an uncached authenticator must decrypt every time") }
    }

    func testCacheIsBounded() throws {
        let keyring = try Keyring(secrets: Fernet.generateKey())
        let auth = DrainAuthenticator(keyring: keyring, cacheCapacity: 8)
        let tokens = (0..<20).map { keyring.encrypt("user\($0):t", now: now) }
        for (i, token) in tokens.enumerated() {
            XCTAssertEqual(try auth.destination(forToken: token, now: now), .librato(user: "user\(i)", token: "t", url: nil))
            XCTAssertLessThanOrEqual(auth.cachedCount, 8)
        }
        XCTAssertEqual(auth.cachedCount, 8)
        // Evicted entries still resolve (decrypted again).
        for (i, token) in tokens.enumerated() {
            XCTAssertEqual(try auth.destination(forToken: token, now: now), .librato(user: "user\(i)", token: "t", url: nil))
        }
        XCTAssertEqual(DrainAuthenticator(keyring: keyring).cachedCount, 0)
        XCTAssertEqual(DrainAuthenticator.defaultCacheCapacity, 10_000)
    }

    /// Hostile Authorization values: every one is a 401 with a reason, none is cached, and a valid
    /// token behind a huge Basic password works but does not take a cache entry of that size.
    func testGarbageIsRefusedAndNeverFillsTheCache() throws {
        let keyring = try Keyring(secrets: Fernet.generateKey())
        let other = try Keyring(secrets: Fernet.generateKey())
        let auth = DrainAuthenticator(keyring: keyring, cacheCapacity: 8)
        let valid = keyring.encrypt("u:t", now: now)
        var hostile: [String] = [
            "Basic " + String(repeating: "A", count: 16 * 1024),
            "Basic " + String(repeating: "=", count: 1000),
            "Basic \u{0}\u{1}\u{ff}",
            "basic    ",
            "Digest " + Data((valid + ":").utf8).base64EncodedString(),
            "Basic " + Data(("\u{80}\u{81}:" + valid).utf8).base64EncodedString(),
            "Basic " + Data([0xff, 0xfe, 0x3a]).base64EncodedString(),
            "Basic " + Data((other.encrypt("u:t", now: now) + ":").utf8).base64EncodedString(),
            "Basic " + Data((String(valid.dropLast(4)) + ":").utf8).base64EncodedString(),
            String(repeating: "Basic ", count: 2000),
        ]
        for i in 0..<200 {
            hostile.append("Basic " + Data(("gAAAAA\(i)" + String(repeating: "x", count: i) + ":").utf8).base64EncodedString())
        }
        for h in hostile {
            guard case .failure = auth.authenticate(authorization: h, now: now) else {
                return XCTFail("accepted \(h.prefix(40))")
            }
        }
        XCTAssertEqual(auth.cachedCount, 0, "failures are never cached")

        let longPassword = "Basic " + Data((valid + ":" + String(repeating: "p", count: 8 * 1024)).utf8).base64EncodedString()
        XCTAssertGreaterThan(longPassword.utf8.count, DrainAuthenticator.maxCachedKeyBytes)
        for _ in 0..<3 {
            XCTAssertEqual(try auth.authenticate(authorization: longPassword, now: now).get().token, valid)
        }
        XCTAssertEqual(auth.cachedCount, 1, "only the token (for the outlet) is cached, not the 11 KB header")
        XCTAssertEqual(try auth.authenticate(authorization: header(valid), now: now).get().token, valid)
        XCTAssertEqual(auth.cachedCount, 2)
    }

    func testConcurrentUseIsSafe() throws {
        let keyring = try Keyring(secrets: Fernet.generateKey())
        let auth = DrainAuthenticator(keyring: keyring, cacheCapacity: 16)
        let now = self.now
        let tokens = (0..<40).map { keyring.encrypt("user\($0):t", now: now) }
        let headers = tokens.map(header)
        let failures = Failures()
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for round in 0..<50 {
                let i = (worker * 7 + round) % tokens.count
                guard case .success(let c) = auth.authenticate(authorization: headers[i], now: now),
                      c.token == tokens[i], c.destination == .librato(user: "user\(i)", token: "t", url: nil)
                else { failures.add(); continue }
            }
        }
        XCTAssertEqual(failures.count, 0)
        XCTAssertLessThanOrEqual(auth.cachedCount, 16)
    }

    func testLocalModeAcceptsEverything() throws {
        let auth = DrainAuthenticator(keyring: nil)
        XCTAssertTrue(auth.isLocalMode)
        for authorization in [nil, "", "Basic !!!", header("anything")] {
            XCTAssertEqual(try auth.authenticate(authorization: authorization, now: now).get(),
                           DrainCredentials(token: "", destination: .local))
        }
        XCTAssertEqual(try auth.destination(forToken: "", now: now), .local)
        XCTAssertThrowsError(try auth.destination(forToken: "gAAAA-from-another-server", now: now))
    }

    func testCredentialsAreHashable() {
        let a = DrainCredentials(token: "t", destination: .librato(user: "u", token: "x", url: nil))
        let b = DrainCredentials(token: "t", destination: .librato(user: "u", token: "x", url: nil))
        let c = DrainCredentials(token: "t2", destination: .local)
        XCTAssertEqual(Set([a, b, c]).count, 2)
    }
}

/// A thread-safe failure counter for the concurrency test.
private final class Failures: Sendable {
    private let n = Atomic<Int>(0)
    func add() { n.wrappingAdd(1, ordering: .relaxed) }
    var count: Int { n.load(ordering: .relaxed) }
}
