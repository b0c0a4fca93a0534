import XCTest
@testable import L2metCrypto

/// `l2met sign` and `l2met verify` as functions: outputs and their one error line.
final class DrainTokenToolTests: XCTestCase {
    let now: Int64 = 1_700_000_000
    let key = Fernet.generateKey()

    private func signed(_ r: Result<String, DrainTokenTool.Failure>, file: StaticString = #filePath, line: UInt = #line) -> String {
        switch r {
        case .success(let s): return s
        case .failure(let f): XCTFail("refused: \(f)", file: file, line: line); return ""
        }
    }

    private func failure(_ r: Result<String, DrainTokenTool.Failure>, file: StaticString = #filePath, line: UInt = #line) -> String {
        switch r {
        case .success(let s): XCTFail("accepted: \(s)", file: file, line: line); return ""
        case .failure(let f): return f.description
        }
    }

    func testSignThenVerify() throws {
        let token = signed(DrainTokenTool.sign(secrets: key, libratoUser: "me@example.com", libratoToken: "abc123",
                                               destination: nil, baseURL: nil, now: now))
        XCTAssertTrue(token.hasPrefix("gAAAAA"), token)
        XCTAssertEqual(try Keyring(secrets: key).decrypt(token, now: now), "me@example.com:abc123")
        XCTAssertEqual(signed(DrainTokenTool.verify(secrets: key, token: token, ttl: nil, now: nil, clock: now)), "me@example.com:abc123")
        XCTAssertEqual(signed(DrainTokenTool.verify(secrets: key, token: token + "\n", ttl: 60, now: "\(now + 60)", clock: 0)),
                       "me@example.com:abc123")
    }

    func testSignUsesTheFirstKey() throws {
        let other = Fernet.generateKey()
        let token = signed(DrainTokenTool.sign(secrets: "\(key):\(other)", libratoUser: "u", libratoToken: "t",
                                               destination: nil, baseURL: nil, now: now))
        XCTAssertEqual(try Keyring(secrets: key).decrypt(token, now: now), "u:t")
        XCTAssertThrowsError(try Keyring(secrets: other).decrypt(token, now: now))
    }

    func testSignWithBaseURLPrintsTheDrainURL() throws {
        let cases: [(String, String, String)] = [
            ("https://my-l2met.example.com", "https://", "@my-l2met.example.com/logs"),
            ("https://my-l2met.example.com/", "https://", "@my-l2met.example.com/logs"),
            ("https://my-l2met.example.com/some/path?x=1#f", "https://", "@my-l2met.example.com/logs"),
            ("HTTP://old:secret@localhost:8080/logs", "http://", "@localhost:8080/logs"),
        ]
        for (base, prefix, suffix) in cases {
            let url = signed(DrainTokenTool.sign(secrets: key, libratoUser: "u", libratoToken: "t", destination: nil,
                                                 baseURL: base, now: now))
            XCTAssertTrue(url.hasPrefix(prefix) && url.hasSuffix(suffix), url)
            let token = String(url.dropFirst(prefix.count).dropLast(suffix.count))
            XCTAssertEqual(try Keyring(secrets: key).decrypt(token, now: now), "u:t")
            // verify takes the whole URL too
            XCTAssertEqual(signed(DrainTokenTool.verify(secrets: key, token: url, ttl: nil, now: nil, clock: now)), "u:t")
        }
        for bad in ["my-l2met.example.com", "ftp://host", "https://", "https:///logs", "https://:80"] {
            XCTAssertEqual(failure(DrainTokenTool.sign(secrets: key, libratoUser: "u", libratoToken: "t", destination: nil,
                                                       baseURL: bad, now: now)),
                           "l2met sign: --base-url must look like https://host[:port]", bad)
        }
    }

    func testSignWithADestination() throws {
        let url = "otlp+https://otel.example.com/v1/metrics#x-api-key=k"
        let token = signed(DrainTokenTool.sign(secrets: key, libratoUser: nil, libratoToken: nil, destination: url,
                                               baseURL: nil, now: now))
        XCTAssertEqual(try Keyring(secrets: key).decrypt(token, now: now), url)
        XCTAssertEqual(failure(DrainTokenTool.sign(secrets: key, libratoUser: nil, libratoToken: nil,
                                                   destination: "gopher://x", baseURL: nil, now: now)),
                       "l2met sign: unknown destination scheme gopher")
    }

    func testSignRefusals() {
        let cases: [(String?, String?, String?, String?, String)] = [
            (key, nil, nil, nil, "l2met sign: give --librato-user and --librato-token, or --destination"),
            (key, "u", "t", "librato+https://u:t@h/", "l2met sign: give either --librato-user with --librato-token, or --destination, not both"),
            (key, "u", nil, nil, "l2met sign: --librato-user needs --librato-token"),
            (key, nil, "t", nil, "l2met sign: --librato-token needs --librato-user"),
            (key, "a:b", "t", nil, "l2met sign: the Librato user may not contain ':'"),
            (key, "", "t", nil, "l2met sign: the Librato user and token may not be empty"),
            (nil, "u", "t", nil, "l2met sign: no key: SECRETS is not set or holds no key"),
            ("", "u", "t", nil, "l2met sign: no key: SECRETS is not set or holds no key"),
            ("\(key):secretjunk", "u", "t", nil, "l2met sign: malformed key: key 2 of 2 in SECRETS is not base64url of 32 bytes"),
        ]
        for (secrets, user, token, destination, expected) in cases {
            let line = failure(DrainTokenTool.sign(secrets: secrets, libratoUser: user, libratoToken: token,
                                                   destination: destination, baseURL: nil, now: now))
            XCTAssertEqual(line, expected)
            XCTAssertFalse(line.contains(key) || line.contains("secretjunk") || line.contains("\n"))
        }
    }

    func testVerifyErrorLines() throws {
        let keyring = try Keyring(secrets: key)
        let token = keyring.encrypt("u:t", now: now)
        var bytes = Base64URL.decode(token)!
        bytes[bytes.count - 1] ^= 1
        let tampered = Base64URL.encode(bytes)
        bytes = Base64URL.decode(token)!
        bytes[0] = 0x81
        let version = Base64URL.encode(bytes)
        let padding = try Fernet(key: key).seal(paddedPlaintext: [UInt8](repeating: 0x41, count: 16), now: now, iv: nil)
        let cases: [(String?, String, Int64?, String?, String)] = [
            (nil, token, nil, nil, "l2met verify: no key: SECRETS is not set or holds no key"),
            ("", token, nil, nil, "l2met verify: no key: SECRETS is not set or holds no key"),
            ("nope", token, nil, nil, "l2met verify: malformed key: key 1 of 1 in SECRETS is not base64url of 32 bytes"),
            (key, "not base64!", nil, nil, "l2met verify: bad base64: the token is not base64url text"),
            (key, version, nil, nil, "l2met verify: wrong version: the token's first byte is not 0x80, so it is not a Fernet token"),
            (key, token, 60, "\(now + 61)", "l2met verify: expired: the token is older than the TTL"),
            (key, token, nil, "2023-11-14T22:11:00Z", "l2met verify: from the future: the token's timestamp is more than 60 s ahead of now"),
            (key, tampered, nil, nil, "l2met verify: bad HMAC: the token was not made with this key, or it was changed"),
            (Fernet.generateKey(), token, nil, nil, "l2met verify: bad HMAC: the token was not made with this key, or it was changed"),
            (key, padding, nil, nil, "l2met verify: bad padding: the decrypted message has invalid PKCS#7 padding"),
            (key, token, nil, "yesterday", "l2met verify: --now must be RFC 3339 (1985-10-26T01:20:00-07:00, 2026-01-02T03:04:05Z) or epoch seconds"),
            (key, token, -1, nil, "l2met verify: --ttl must be 0 or more seconds"),
        ]
        for (secrets, t, ttl, nowText, expected) in cases {
            let line = failure(DrainTokenTool.verify(secrets: secrets, token: t, ttl: ttl, now: nowText, clock: now))
            XCTAssertEqual(line, expected)
            XCTAssertFalse(line.contains(key) || line.contains("\n"))
        }
    }

    func testVerifyTheSpecVectorWithRFC3339Now() {
        XCTAssertEqual(signed(DrainTokenTool.verify(secrets: FernetTests.specKey, token: FernetTests.specToken, ttl: 60,
                                                    now: "1985-10-26T01:20:01-07:00", clock: 0)), "hello")
        XCTAssertEqual(failure(DrainTokenTool.verify(secrets: FernetTests.specKey, token: FernetTests.specToken, ttl: 60,
                                                     now: "1985-10-26T01:21:01-07:00", clock: 0)),
                       "l2met verify: expired: the token is older than the TTL")
    }

    func testDrainURLAndTokenExtraction() {
        XCTAssertEqual(DrainTokenTool.drainURL(baseURL: "https://h.example.com:8443/x", token: "TOK"), "https://TOK@h.example.com:8443/logs")
        XCTAssertNil(DrainTokenTool.drainURL(baseURL: "h.example.com", token: "TOK"))
        XCTAssertEqual(DrainTokenTool.tokenOf("https://TOK@h/logs"), "TOK")
        XCTAssertEqual(DrainTokenTool.tokenOf("https://TOK:@h/logs"), "TOK")
        XCTAssertEqual(DrainTokenTool.tokenOf("  TOK \n"), "TOK")
        XCTAssertEqual(DrainTokenTool.tokenOf("https://h/logs"), "https://h/logs")
    }
}
