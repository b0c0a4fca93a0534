import XCTest
@testable import L2metCrypto

/// Fernet itself: round trips, the spec's vectors, and every way a token is refused.
final class FernetTests: XCTestCase {
    // The fernet/spec vectors (generate.json, verify.json).
    static let specKey = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4="
    static let specToken =
        "gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODy021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4IwqDA=="
    static let specNow: Int64 = 499_162_800        // 1985-10-26T01:20:00-07:00
    static let specIV: [UInt8] = Array(0...15)

    let fernet = try! Fernet(key: FernetTests.specKey)

    func testSpecGenerateVectorIsReproducedExactly() throws {
        let token = fernet.encrypt(plaintext: Array("hello".utf8), now: Self.specNow, iv: Self.specIV)
        XCTAssertEqual(token, Self.specToken)
    }

    func testSpecVerifyVector() throws {
        let plain = try fernet.decrypt(token: Self.specToken, ttl: 60, now: Self.specNow + 1)
        XCTAssertEqual(String(decoding: plain, as: UTF8.self), "hello")
    }

    func testRoundTripsOfManySizes() throws {
        let key = try Fernet(key: Fernet.generateKey())
        for size in [0, 1, 15, 16, 17, 31, 32, 33, 100, 1000] {
            let plain = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            let token = key.encrypt(plaintext: plain, now: 1_700_000_000)
            XCTAssertEqual(try key.decrypt(token: token, ttl: nil, now: 1_700_000_000), plain, "size \(size)")
            XCTAssertEqual(try key.decrypt(token: token, ttl: 10, now: 1_700_000_010), plain, "size \(size), ttl edge")
            // Length: 57 bytes of framing plus the padded ciphertext, base64 with padding.
            let bytes = try XCTUnwrap(Base64URL.decode(token))
            XCTAssertEqual(bytes.count, 57 + (size / 16 + 1) * 16)
            XCTAssertEqual(bytes[0], 0x80)
        }
    }

    func testEveryTokenGetsAFreshIV() throws {
        let key = try Fernet(key: Fernet.generateKey())
        let a = try XCTUnwrap(Base64URL.decode(key.encrypt(plaintext: Array("same".utf8), now: 1)))
        let b = try XCTUnwrap(Base64URL.decode(key.encrypt(plaintext: Array("same".utf8), now: 1)))
        XCTAssertNotEqual(Array(a[9..<25]), Array(b[9..<25]))
        XCTAssertNotEqual(a, b)
    }

    func testTimestampIsBigEndianSeconds() throws {
        let bytes = try XCTUnwrap(Base64URL.decode(Self.specToken))
        XCTAssertEqual(Array(bytes[1..<9]), [0, 0, 0, 0, 0x1d, 0xc0, 0x9e, 0xb0])
    }

    func testGeneratedKeysAreBase64URLOf32Bytes() throws {
        let key = Fernet.generateKey()
        XCTAssertEqual(Base64URL.decode(key)?.count, 32)
        XCTAssertFalse(key.contains("+") || key.contains("/"))
        XCTAssertNotEqual(key, Fernet.generateKey())
    }

    func testMalformedKeys() {
        for key in ["", "short", String(Self.specKey.dropLast(4)), Self.specKey + "AAAA",
                    Self.specKey.replacingOccurrences(of: "_", with: "/"), "!" + Self.specKey.dropFirst()] {
            XCTAssertThrowsError(try Fernet(key: key), key) { XCTAssertEqual($0 as? FernetError, .malformedKey) }
        }
        // Padding is optional on keys too.
        XCTAssertNoThrow(try Fernet(key: String(Self.specKey.dropLast())))
    }

    // MARK: refusals

    private func assertRefused(_ token: String, _ expected: FernetError, ttl: Int64? = 60, now: Int64 = FernetTests.specNow + 1,
                               key: Fernet? = nil, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try (key ?? fernet).decrypt(token: token, ttl: ttl, now: now), file: file, line: line) {
            XCTAssertEqual($0 as? FernetError, expected, file: file, line: line)
        }
    }

    /// The spec token's bytes with one byte changed, re-encoded.
    private func tampered(at index: Int) -> String {
        var bytes = Base64URL.decode(Self.specToken)!
        bytes[index] ^= 0x01
        return Base64URL.encode(bytes)
    }

    func testTamperingWithAnyPartIsABadHMAC() {
        let length = Base64URL.decode(Self.specToken)!.count
        // timestamp (low byte, still within skew and ttl), IV, ciphertext, HMAC
        for index in [8, 9, 20, 24, 25, 30, length - 33, length - 32, length - 1] {
            assertRefused(tampered(at: index), .badHMAC)
        }
    }

    func testWrongVersionByte() {
        assertRefused(tampered(at: 0), .wrongVersion)
        var bytes = Base64URL.decode(Self.specToken)!
        bytes[0] = 0x81
        assertRefused(Base64URL.encode(bytes), .wrongVersion)
    }

    func testWrongKeyIsABadHMAC() throws {
        assertRefused(Self.specToken, .badHMAC, key: try Fernet(key: Fernet.generateKey()))
    }

    func testBadLengths() {
        var bytes = Base64URL.decode(Self.specToken)!
        assertRefused(Base64URL.encode(Array(bytes[0..<56])), .badLength)       // no ciphertext at all
        assertRefused(Base64URL.encode(Array(bytes.dropLast(1))), .badLength)   // not whole blocks
        bytes.append(0)
        assertRefused(Base64URL.encode(bytes), .badLength)
        assertRefused("", .badLength)
    }

    func testBadBase64() {
        assertRefused("%%%%" + Self.specToken.dropFirst(4), .badBase64)
        assertRefused(Self.specToken.replacingOccurrences(of: "_", with: "/"), .badBase64)   // standard alphabet
        assertRefused(Self.specToken + "=", .badBase64)                                      // extra padding
        assertRefused(Self.specToken + "==", .badBase64)
        assertRefused(" " + Self.specToken, .badBase64)
        assertRefused(String(Self.specToken.dropLast(1)), .badBase64)        // one "=" where two are needed
    }

    func testMissingPaddingIsAccepted() throws {
        let unpadded = String(Self.specToken.dropLast(2))
        XCTAssertFalse(unpadded.hasSuffix("="))
        XCTAssertEqual(try fernet.decrypt(token: unpadded, ttl: 60, now: Self.specNow + 1), Array("hello".utf8))
    }

    func testExpiredWithTTL() {
        // Expired when now > timestamp + ttl: the last good second is timestamp + ttl.
        XCTAssertNoThrow(try fernet.decrypt(token: Self.specToken, ttl: 60, now: Self.specNow + 60))
        assertRefused(Self.specToken, .expired, ttl: 60, now: Self.specNow + 61)
        assertRefused(Self.specToken, .expired, ttl: 0, now: Self.specNow + 1)
        // No ttl: never expires.
        XCTAssertNoThrow(try fernet.decrypt(token: Self.specToken, ttl: nil, now: Self.specNow + 40 * 365 * 86_400))
    }

    func testFromTheFuture() throws {
        // Up to 60 s ahead is clock skew; more is refused.
        XCTAssertNoThrow(try fernet.decrypt(token: Self.specToken, ttl: nil, now: Self.specNow - 60))
        assertRefused(Self.specToken, .fromTheFuture, ttl: nil, now: Self.specNow - 61)
        let future = fernet.encrypt(plaintext: [1], now: Int64.max)
        assertRefused(future, .fromTheFuture, ttl: 60, now: 1_700_000_000)
        var bytes = Base64URL.decode(Self.specToken)!
        for i in 1...8 { bytes[i] = 0xFF }        // beyond Int64.max
        assertRefused(Base64URL.encode(bytes), .fromTheFuture, ttl: nil, now: 1_700_000_000)
        // Extreme values never trap.
        assertRefused(Self.specToken, .expired, ttl: 1, now: Int64.max)
        XCTAssertNoThrow(try fernet.decrypt(token: Self.specToken, ttl: Int64.max, now: Self.specNow + 1))
        assertRefused(Self.specToken, .fromTheFuture, ttl: Int64.max, now: Int64.min)
    }

    func testBadPaddingWithAValidHMAC() {
        // Whole blocks whose last byte is not valid PKCS#7, encrypted and signed correctly.
        let badBlocks: [[UInt8]] = [
            Array("hello world!!!!".utf8) + [0],                           // pad 0
            Array("0123456789abcde".utf8) + [17],                          // pad > 16
            Array("0123456789abc".utf8) + [3, 2, 3],                       // inconsistent pad bytes
            Array("0123456789abcdef0123456789abcdef".utf8),                // no pad at all (last byte 'f')
        ]
        for block in badBlocks {
            let token = fernet.seal(paddedPlaintext: block, now: Self.specNow, iv: nil)
            assertRefused(token, .badPadding)
        }
        // Control: the same path with right padding decrypts.
        let good = fernet.seal(paddedPlaintext: Array("0123456789abc".utf8) + [3, 3, 3], now: Self.specNow, iv: nil)
        XCTAssertEqual(try fernet.decrypt(token: good, ttl: nil, now: Self.specNow), Array("0123456789abc".utf8))
    }

    func testVersionAndTimeAreCheckedBeforeTheHMAC() throws {
        // A wrong key reports a bad HMAC only when the token is otherwise well formed and in time.
        let other = try Fernet(key: Fernet.generateKey())
        assertRefused(Self.specToken, .expired, ttl: 60, now: Self.specNow + 61, key: other)
        assertRefused(Self.specToken, .badHMAC, ttl: 60, now: Self.specNow + 1, key: other)
    }

    func testErrorMessagesNameTheFailure() {
        let expected: [(FernetError, String)] = [
            (.badBase64, "bad base64"), (.wrongVersion, "wrong version"), (.badLength, "bad length"),
            (.expired, "expired"), (.fromTheFuture, "from the future"), (.badHMAC, "bad HMAC"),
            (.badPadding, "bad padding"), (.noKey, "no key"), (.malformedKey, "malformed key"),
            (.malformedKeyInSecrets(position: 2, count: 3), "key 2 of 3 in SECRETS is not base64url of 32 bytes"),
            (.notText, "not text"),
        ]
        for (error, phrase) in expected {
            XCTAssertTrue(error.description.contains(phrase), "\(error.description) should say \(phrase)")
            XCTAssertFalse(error.description.contains("\n"))
        }
    }
}
