import Foundation
import XCTest
@testable import L2metCrypto

/// SECRETS: parsing, rotation, refusals.
final class KeyringTests: XCTestCase {
    func testFirstKeyEncryptsEveryKeyDecrypts() throws {
        let old = Fernet.generateKey(), new = Fernet.generateKey()
        let before = try Keyring(secrets: old)
        let oldToken = before.encrypt("user:token", now: 1_700_000_000)

        let rotated = try Keyring(secrets: "\(new):\(old)")
        XCTAssertEqual(rotated.count, 2)
        XCTAssertEqual(try rotated.decrypt(oldToken, now: 1_700_000_100), "user:token")
        let newToken = rotated.encrypt("user:token", now: 1_700_000_100)
        // Made with the new key: the new key alone reads it, the old alone does not.
        XCTAssertEqual(try Keyring(secrets: new).decrypt(newToken, now: 1_700_000_100), "user:token")
        XCTAssertThrowsError(try before.decrypt(newToken, now: 1_700_000_100)) {
            XCTAssertEqual($0 as? FernetError, .badHMAC)
        }
    }

    func testMalformedKeyIsNamedByPositionNotText() throws {
        let good = Fernet.generateKey()
        let secret = "not-a-key-but-a-secret-\(UUID().uuidString)"
        let cases: [(String, Int, Int)] = [
            ("\(good):\(secret):\(good)", 2, 3),
            (secret, 1, 1),
            ("\(good):\(good):\(good):x", 4, 4),
            ("\(good)::\(good)", 2, 3),
            ("\(good):", 2, 2),
            ("\(good):\(good.dropLast(2))", 2, 2),           // 31 bytes
        ]
        for (secrets, position, count) in cases {
            XCTAssertThrowsError(try Keyring(secrets: secrets)) { error in
                XCTAssertEqual(error as? FernetError, .malformedKeyInSecrets(position: position, count: count))
                let message = "\(error)"
                XCTAssertTrue(message.contains("key \(position) of \(count) in SECRETS is not base64url of 32 bytes"), message)
                XCTAssertFalse(message.contains(secret))
                XCTAssertFalse(message.contains(good))
            }
        }
    }

    func testEmptySecretsIsNoKey() {
        for secrets in ["", "  ", "\n"] {
            XCTAssertThrowsError(try Keyring(secrets: secrets)) { XCTAssertEqual($0 as? FernetError, .noKey) }
        }
    }

    func testWhitespaceAroundKeysAndMissingPaddingAreTolerated() throws {
        let a = Fernet.generateKey(), b = Fernet.generateKey()
        let keyring = try Keyring(secrets: " \(a) : \(b.dropLast())\n")
        XCTAssertEqual(keyring.count, 2)
        let token = try Keyring(secrets: b).encrypt("u:t", now: 5)
        XCTAssertEqual(try keyring.decrypt(token, now: 5), "u:t")
    }

    /// The original l2met's keys came from `openssl base64` (standard alphabet, `+` and `/`): such a
    /// key is the same key as its base64url spelling.
    func testStandardBase64KeysAreAccepted() throws {
        // 32 bytes whose base64 has both '+' and '/' in it.
        let raw: [UInt8] = [0xFB, 0xFF, 0xBF] + Array(repeating: 0x3E, count: 29)
        let standard = Data(raw).base64EncodedString()
        XCTAssertTrue(standard.contains("+") && standard.contains("/"), standard)
        let url = standard.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        let keyring = try Keyring(secrets: "\(Fernet.generateKey()):\(standard)")
        XCTAssertEqual(keyring.count, 2)
        let token = try Keyring(secrets: url).encrypt("u:t", now: 5)
        XCTAssertEqual(try keyring.decrypt(token, now: 5), "u:t")
        XCTAssertTrue(keyring.containsKey(standard))
        XCTAssertTrue(keyring.containsKey(url))
        // What makes the first key encrypt: a token from a standard-alphabet first key reads with its url form.
        let first = try Keyring(secrets: standard).encrypt("a:b", now: 5)
        XCTAssertEqual(try Keyring(secrets: url).decrypt(first, now: 5), "a:b")
        XCTAssertThrowsError(try Keyring(secrets: standard + "+"))
    }

    func testContainsKey() throws {
        let a = Fernet.generateKey(), b = Fernet.generateKey()
        let keyring = try Keyring(secrets: "\(a):\(b)")
        XCTAssertTrue(keyring.containsKey(a))
        XCTAssertTrue(keyring.containsKey(b))
        XCTAssertTrue(keyring.containsKey(String(b.dropLast())))   // padding optional
        XCTAssertFalse(keyring.containsKey(Fernet.generateKey()))
        XCTAssertFalse(keyring.containsKey(""))
        XCTAssertFalse(keyring.containsKey("garbage"))
    }

    func testErrorsPassThroughFromTheToken() throws {
        let keyring = try Keyring(secrets: "\(Fernet.generateKey()):\(FernetTests.specKey)")
        XCTAssertEqual(try keyring.decrypt(FernetTests.specToken, ttl: 60, now: FernetTests.specNow + 1), "hello")
        let cases: [(String, Int64?, Int64, FernetError)] = [
            ("@@@@", nil, FernetTests.specNow, .badBase64),
            (FernetTests.specToken, 60, FernetTests.specNow + 61, .expired),
            (FernetTests.specToken, nil, FernetTests.specNow - 61, .fromTheFuture),
            (try Keyring(secrets: Fernet.generateKey()).encrypt("x", now: FernetTests.specNow), nil, FernetTests.specNow, .badHMAC),
        ]
        for (token, ttl, now, expected) in cases {
            XCTAssertThrowsError(try keyring.decrypt(token, ttl: ttl, now: now)) { XCTAssertEqual($0 as? FernetError, expected) }
        }
        // Right key, bad padding: reported as such, not as a bad HMAC from the other keys.
        let padded = try Fernet(key: FernetTests.specKey).seal(paddedPlaintext: [UInt8](repeating: 0, count: 16),
                                                                 now: FernetTests.specNow, iv: nil)
        XCTAssertThrowsError(try keyring.decrypt(padded, now: FernetTests.specNow)) { XCTAssertEqual($0 as? FernetError, .badPadding) }
    }

    func testPlaintextThatIsNotUTF8() throws {
        let key = Fernet.generateKey()
        let token = try Fernet(key: key).encrypt(plaintext: [0xff, 0xfe, 0x3a], now: 10)
        let keyring = try Keyring(secrets: key)
        XCTAssertThrowsError(try keyring.decrypt(token, now: 10)) { XCTAssertEqual($0 as? FernetError, .notText) }
        XCTAssertEqual(try keyring.decryptBytes(token, now: 10), [0xff, 0xfe, 0x3a])
    }
}
