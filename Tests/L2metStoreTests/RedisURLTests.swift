import XCTest
@testable import L2metStore

/// Parsing of `redis://` and `rediss://` URLs, and refusals whose text never shows the password.
final class RedisURLTests: XCTestCase {
    func testParsesTheForms() throws {
        let table: [(String, RedisURL)] = [
            ("redis://127.0.0.1:6391", RedisURL(host: "127.0.0.1", port: 6391)),
            ("redis://localhost", RedisURL(host: "localhost", port: 6379)),
            ("redis://", RedisURL()),
            ("redis://cache.internal:7000/3", RedisURL(host: "cache.internal", port: 7000, database: 3)),
            ("redis://:s3cret@h:1/", RedisURL(host: "h", port: 1, password: "s3cret")),
            ("redis://alice:pw@h:2/15", RedisURL(host: "h", port: 2, user: "alice", password: "pw", database: 15)),
            ("redis://h:p%40ss%3Aw%2Fd@h:3", RedisURL(host: "h", port: 3, user: "h", password: "p@ss:w/d")),
            ("redis://:a:b@h", RedisURL(host: "h", password: "a:b")),
            ("redis://only@h", RedisURL(host: "h", password: "only")),
            ("redis://[::1]:6380/2", RedisURL(host: "::1", port: 6380, database: 2)),
            ("REDIS://H:9?timeout=1", RedisURL(host: "H", port: 9)),
            ("rediss://:pw@h:6380", RedisURL(host: "h", port: 6380, password: "pw", tls: true)),
            ("rediss://u:p%3Fw@ec2-1-2-3-4.compute-1.amazonaws.com:12345/1",
             RedisURL(host: "ec2-1-2-3-4.compute-1.amazonaws.com", port: 12345, user: "u", password: "p?w", database: 1, tls: true)),
            ("rediss://:p?w@h:1", RedisURL(host: "h", port: 1, password: "p?w", tls: true)),
            ("rediss://h:1/2?ssl_cert_reqs=required", RedisURL(host: "h", port: 1, database: 2, tls: true, verifyCertificate: true)),
            ("rediss://h:1?timeout=3&ssl_cert_reqs=CERT_REQUIRED", RedisURL(host: "h", port: 1, tls: true, verifyCertificate: true)),
            ("rediss://h:1?ssl_cert_reqs=none", RedisURL(host: "h", port: 1, tls: true)),
            ("REDISS://[::1]:7", RedisURL(host: "::1", port: 7, tls: true)),
        ]
        for (text, expected) in table {
            XCTAssertEqual(try RedisURL(parsing: text), expected, text)
        }
    }

    func testRefusesMalformedURLs() {
        let table: [(String, RedisURLError)] = [
            ("127.0.0.1:6379", .notAURL),
            ("http://h:1", .unsupportedScheme("http")),
            ("rediss://:secret@h:6380?ssl_cert_reqs=maybe", .badCertificateRequirement("maybe")),
            ("rediss://h:1?ssl_cert_reqs", .badCertificateRequirement("")),
            ("redis://h:0", .badPort("0")),
            ("redis://h:70000", .badPort("70000")),
            ("redis://h:port", .badPort("port")),
            ("redis://h:1/x", .badDatabase("x")),
            ("redis://h:1/-1", .badDatabase("-1")),
            ("redis://:bad%zzsecret@h", .badPercentEncoding("password")),
            ("redis://ho st:1", .badHost),
            ("redis://[::1:1", .badHost),
        ]
        for (text, expected) in table {
            XCTAssertThrowsError(try RedisURL(parsing: text), text) { error in
                XCTAssertEqual(error as? RedisURLError, expected, text)
                XCTAssertFalse("\(error)".contains("secret"), "error text shows the password: \(error)")
            }
        }
    }

    /// `rediss://` is accepted (no connection is made until the first call), without verification by default.
    func testRedissMakesAStoreWithoutConnecting() throws {
        let store = try RedisStore(url: "rediss://:pw@redis.example.com:6380")
        XCTAssertTrue(store.url.tls)
        XCTAssertFalse(store.url.verifyCertificate)
        XCTAssertEqual(store.url.description, "rediss://:***@redis.example.com:6380/0")
    }

    func testDescriptionHidesThePassword() throws {
        let url = try RedisURL(parsing: "redis://alice:hunter2@h:5/1")
        XCTAssertEqual(url.description, "redis://alice:***@h:5/1")
        XCTAssertEqual(try RedisURL(parsing: "rediss://:hunter2@h:5?ssl_cert_reqs=required").description,
                       "rediss://:***@h:5/0?ssl_cert_reqs=required")
    }
}
