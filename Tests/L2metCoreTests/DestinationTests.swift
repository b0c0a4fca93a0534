import L2metCore
import XCTest

/// Reading a drain token's plaintext into a destination, and writing it back.
final class DestinationTests: XCTestCase {
    func testPlaintexts() throws {
        let cases: [(String, Destination)] = [
            ("ops@example.com:abc123", .librato(user: "ops@example.com", token: "abc123", url: nil)),
            ("u:tok:with:colons", .librato(user: "u", token: "tok:with:colons", url: nil)),
            ("librato+https://u%40x:t%2Fk@api.example.com/v1/metrics",
             .librato(user: "u@x", token: "t/k", url: "https://api.example.com/v1/metrics")),
            ("librato+http://u:t@127.0.0.1:9000/v1/metrics", .librato(user: "u", token: "t", url: "http://127.0.0.1:9000/v1/metrics")),
            ("otlp+https://otlp.example:4318/v1/metrics", .otlp(url: "https://otlp.example:4318/v1/metrics", headers: [])),
            ("OTLP+http://127.0.0.1:4318/v1/metrics#x-api-key=k%261&dd-api-key=k2",
             .otlp(url: "http://127.0.0.1:4318/v1/metrics", headers: [("x-api-key", "k&1"), ("dd-api-key", "k2")])),
        ]
        for (plaintext, expected) in cases {
            XCTAssertEqual(try Destination(plaintext: plaintext), expected, plaintext)
            // Written back, it reads the same.
            XCTAssertEqual(try Destination(plaintext: expected.plaintext), expected, expected.plaintext)
        }
    }

    func testRefusals() {
        let cases: [(String, DestinationError)] = [
            ("", .empty),
            ("no-colon", .malformed("expected user:token")),
            (":token", .malformed("expected user:token")),
            ("user:", .malformed("expected user:token")),
            ("gopher://example.com/x", .unknownScheme("gopher")),
            ("librato+https://example.com/v1/metrics", .malformed("librato destination needs user:token@host")),
            ("librato+https://u:t@/v1/metrics", .malformed("librato destination has no host")),
            ("otlp+https:///v1/metrics", .malformed("otlp destination has no host")),
            ("otlp+https://u:p@host/v1/metrics", .malformed("otlp destination has no host")),
            ("otlp+https://host/v1/metrics#novalue", .malformed("otlp header novalue has no value")),
            ("otlp+https://host/v1/metrics#bad%20name=v", .malformed("otlp header name or value is not valid")),
            // CR LF is one Swift Character, equal to neither "\r" nor "\n": these used to pass, and the
            // OTLP one put a second header line into the request to the collector.
            ("user:token\r\n", .malformed("credentials may not contain line breaks")),
            ("us\r\ner:token", .malformed("credentials may not contain line breaks")),
            ("user:to\rken", .malformed("credentials may not contain line breaks")),
            ("otlp+https://host/v1/metrics#x-api-key=k%0D%0AHost:%20evil", .malformed("otlp header name or value is not valid")),
            ("otlp+https://host/v1/metrics#x-api-key=k%0D%0A", .malformed("otlp header name or value is not valid")),
            ("librato+https://u%0D%0Ax:t@host/v1", .malformed("credentials may not contain line breaks")),
            ("librato+https://u:t%0A@host/v1", .malformed("credentials may not contain line breaks")),
            // Userinfo in an OTLP URL would be logged with it; "@" + a combining mark hid it.
            ("otlp+https://secret@\u{301}host/v1/metrics", .malformed("otlp destination has no host")),
        ]
        for (plaintext, expected) in cases {
            XCTAssertThrowsError(try Destination(plaintext: plaintext), plaintext) { error in
                XCTAssertEqual(error as? DestinationError, expected, plaintext)
            }
        }
    }

    func testLoggableNamesCarryNoSecret() throws {
        XCTAssertEqual(try Destination(plaintext: "ops@example.com:abc123").loggableName, "ops@example.com")
        let otlp = try Destination(plaintext: "otlp+https://host:4318/v1/metrics?api-key=s3cret#x-api-key=k9k9k9")
        XCTAssertEqual(otlp.loggableName, "https://host:4318/v1/metrics")
    }
}
