import Foundation
import L2metCore
import L2metHTTP
@testable import L2metOutlet
import L2metStore
import L2metTestSupport
import XCTest

/// What the outlet logs about a request holds no credential in any encoding: error bodies from a real
/// destination that echoes them, and transport failures named by a fixed phrase.
final class RedactionTests: XCTestCase {
    let user = "ops@example.com"
    let token = "s3cr+t/T0k=n é&x~42"
    let client = CurlHTTPClient(userAgent: "l2met/9.8.7", connectTimeout: 2, requestTimeout: 5)

    /// Every encoding of `token` (and of `user:token`) a careless destination might echo.
    func encodings(of secret: String, user: String) -> [String: String] {
        let raw = Data(secret.utf8)
        let std = raw.base64EncodedString()
        let pair = Data("\(user):\(secret)".utf8).base64EncodedString()
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let percent = secret.addingPercentEncoding(withAllowedCharacters: allowed)!
        return [
            "raw": secret,
            "percent": percent,
            "percent-lower": secret.utf8.map { b -> String in
                let c = Character(Unicode.Scalar(b))
                return b < 0x80 && (c.isLetter || c.isNumber || "-._~".contains(c)) ? String(c) : String(format: "%%%02x", b)
            }.joined(),
            "form": secret.addingPercentEncoding(withAllowedCharacters: allowed.union(CharacterSet(charactersIn: " ")))!
                .replacingOccurrences(of: " ", with: "+"),
            "base64": std,
            "base64url": std.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: ""),
            "basic": "Basic \(pair)",
            "base64-pair": pair,
            "inside-base64-1": Data("x".utf8 + raw + "yz".utf8).base64EncodedString(),
            "inside-base64-2": Data("xy".utf8 + raw + "z".utf8).base64EncodedString(),
            "inside-base64-3": Data("xyz".utf8 + raw).base64EncodedString(),
            "json": secret.replacingOccurrences(of: "/", with: "\\/"),
        ]
    }

    /// True when some run of base64 characters in `text`, read at any of the four character offsets
    /// (standard or URL-safe alphabet), decodes to bytes holding 4 consecutive bytes of `secret`.
    func base64Leaks(_ secret: String, in text: String) -> Bool {
        let windows = Set(Array(secret.utf8).windows(4))
        let base64Chars = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_")
        let runs = text.unicodeScalars.split { !base64Chars.contains($0) }.map { String(String.UnicodeScalarView($0)) }
        for run in runs {
            let standard = run.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            for shift in 0..<4 where standard.count - shift >= 4 {
                let part = String(standard.dropFirst(shift))
                guard let decoded = Data(base64Encoded: String(part.prefix(part.count / 4 * 4))) else { continue }
                if Array(decoded).windows(4).contains(where: { windows.contains($0) }) { return true }
            }
        }
        return false
    }

    func testAnErrorBodyEchoingTheCredentialsIsLoggedWithoutThem() throws {
        let forms = encodings(of: token, user: user)
        // A destination that refuses every request, echoing its Authorization header and the token in
        // every encoding above.
        let collector = try FakeLibrato(respond: { request in
            var body = "{\"errors\":{\"request\":[\"bad credentials\"]},\"echo\":{"
            body += "\"authorization\":\"\(request.header("authorization") ?? "none")\","
            body += forms.keys.sorted().map { "\"\($0)\":\"\(forms[$0]!)\"" }.joined(separator: ",")
            body += "}}\nAuthorization: \(request.header("authorization") ?? "none")\n"
            return HTTPResponse(status: 401, body: Array(body.utf8))
        })
        defer { collector.stop() }
        let destination = Destination.librato(user: user, token: token, url: collector.url)
        let sink = LibratoSink(client: client, defaultURL: collector.url)
        let request = try XCTUnwrap(sink.requests(for: [
            ClaimedBucket(key: Buckets.key("hits", .counter), data: Buckets.data(.counter, [1])),
        ], destination: destination).first)
        let result = sink.send(request, timeout: 5)
        XCTAssertEqual(result.status, 401)
        let body = String(decoding: result.body, as: UTF8.self)
        // The echo is really there before scrubbing.
        XCTAssertTrue(body.contains(forms["basic"]!), body)
        XCTAssertTrue(body.contains(forms["percent"]!), body)
        XCTAssertTrue(base64Leaks(token, in: body), "the leak check finds nothing even before scrubbing")

        let logged = scrubbed(body, hiding: destination.secrets, limit: 8192)
        for (name, form) in forms {
            XCTAssertFalse(logged.contains(form), "\(name) \(form) survived: \(logged)")
        }
        XCTAssertFalse(base64Leaks(token, in: logged), logged)
        XCTAssertFalse(logged.contains("s3cr"), logged)
        // What is not secret stays readable: the error and the scheme.
        XCTAssertTrue(logged.contains("bad credentials"), logged)
        XCTAssertTrue(logged.contains("Authorization: Basic [redacted]"), logged)
    }

    func testOTLPHeaderValuesAndQueryKeysAreTakenOutInEveryEncoding() throws {
        let key = "k3y/with+plus"
        let collector = try FakeLibrato(respond: { request in
            let echo = "x-api-key=\(request.header("x-api-key") ?? "-") query-key=\(request.query) "
                + "b64=\(Data(key.utf8).base64EncodedString()) pct=\(key.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)"
            return HTTPResponse(status: 400, body: Array(echo.utf8))
        })
        defer { collector.stop() }
        let destination = try Destination(plaintext: "otlp+http://127.0.0.1:\(collector.port)?api-key=qkey5678#x-api-key=k3y%2Fwith%2Bplus")
        let sink = OTLPSink(client: client, scopeVersion: "")
        let request = try XCTUnwrap(sink.requests(for: [
            ClaimedBucket(key: Buckets.key("hits", .counter), data: Buckets.data(.counter, [1])),
        ], destination: destination).first)
        let result = sink.send(request, timeout: 5)
        XCTAssertEqual(result.status, 400)
        let body = String(decoding: result.body, as: UTF8.self)
        XCTAssertTrue(body.contains(key) && body.contains("qkey5678"), body)
        let logged = scrubbed(body, hiding: destination.secrets, limit: 8192)
        XCTAssertFalse(logged.contains(key), logged)
        XCTAssertFalse(logged.contains("qkey5678"), logged)
        XCTAssertFalse(logged.contains("k3y"), logged)
        XCTAssertFalse(base64Leaks(key, in: logged), logged)
        XCTAssertTrue(logged.contains("x-api-key=[redacted]"), logged)
    }

    func testTheTokenAtEveryAlignmentInsideLongerBase64IsTakenOut() {
        for before in 0..<6 {
            for after in 0..<4 {
                let bytes = Array("abcdef".utf8.prefix(before)) + Array(token.utf8) + Array("uvw".utf8.prefix(after))
                let std = Data(bytes).base64EncodedString()
                let url = std.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                for text in ["data=\(std);", "data=\(url)"] {
                    XCTAssertTrue(base64Leaks(token, in: text), "the leak check misses \(text)")
                    let logged = scrubbed(text, hiding: [token], limit: 4096)
                    XCTAssertFalse(base64Leaks(token, in: logged), "\(before)/\(after): \(text) -> \(logged)")
                    XCTAssertTrue(logged.hasPrefix("data="), logged)
                }
            }
        }
    }

    func testAnyAuthorizationValueIsTakenOutEvenWhenNotAKnownSecret() {
        let cases: [(String, String)] = [
            ("Authorization: Bearer abc.def-ghi\r\nX: 1", "Authorization: Bearer [redacted]\r\nX: 1"),
            ("proxy-authorization: Basic Zm9vOmJhcg==", "proxy-authorization: Basic [redacted]"),
            (#"{"Authorization":"Token t0ps3cret","ok":1}"#, #"{"Authorization":"Token [redacted]","ok":1}"#),
            (#"{\"authorization\": \"Basic Zm9vOmJhcg==\"}"#, #"{\"authorization\": \"Basic [redacted]\"}"#),
            ("authorization=onlyacredential&x=1", "authorization=[redacted]&x=1"),
            ("no credentials here: authorizations are fine", "no credentials here: authorizations are fine"),
        ]
        for (text, expected) in cases {
            XCTAssertEqual(scrubbed(text, hiding: [], limit: 4096), expected)
        }
    }

    func testATextCutInsideASecretHidesTheStartOfIt() {
        let cut = "error for token " + String(token.prefix(6))
        XCTAssertEqual(scrubbed(cut, hiding: [token], limit: 4096), "error for token [redacted]")
        XCTAssertEqual(scrubbed("abc", hiding: [token], limit: 4096), "abc")
    }

    func testTheSecretsOfADestination() throws {
        XCTAssertEqual(Set(Destination.librato(user: "u@x", token: "tok123", url: nil).secrets), ["tok123", "u@x:tok123"])
        let otlp = try Destination(plaintext: "otlp+https://h.example/v1/metrics?api-key=abc%2F12&x=1#authorization=Bearer%20b34r3r&service.name=shop&content-encoding=gzip")
        let secrets = Set(otlp.secrets)
        XCTAssertTrue(secrets.isSuperset(of: ["Bearer b34r3r", "b34r3r", "api-key=abc%2F12&x=1", "abc%2F12", "abc/12"]), "\(secrets)")
        XCTAssertFalse(secrets.contains("shop"))
        XCTAssertFalse(secrets.contains("gzip"))
        XCTAssertFalse(secrets.contains("1"), "a short query value is not taken for a secret")
    }

    func testASecretTooShortToRedactStillWithholdsTheText() {
        let logged = scrubbed("refused: key abc", hiding: ["abc"], limit: 4096)
        XCTAssertFalse(logged.contains("abc"))
        XCTAssertTrue(logged.hasPrefix("[withheld"))
    }

    func testConnectionRefusedIsNamedByAFixedPhrase() throws {
        let port = try closedPort()
        let r = client.post(url: "http://127.0.0.1:\(port)/v1/metrics?api-key=secret-in-url", headers: [("x-api-key", "k")],
                            body: Array("{}".utf8))
        XCTAssertNil(r.status)
        XCTAssertEqual(r.failureKind, FailureKind.connectionRefused)
        XCTAssertEqual(r.failureKind, "connection refused")

        let collector = try FakeLibrato()
        defer { collector.stop() }
        let answered = client.post(url: collector.url, headers: [], body: [])
        XCTAssertEqual(answered.status, 200)
        XCTAssertNil(answered.failureKind)
    }

    func testFailurePhrasesByCurlCode() {
        XCTAssertEqual(FailureKind.phrase(curlCode: 6, osErrno: 0), "could not resolve host")
        XCTAssertEqual(FailureKind.phrase(curlCode: 7, osErrno: Int(ECONNREFUSED)), "connection refused")
        XCTAssertEqual(FailureKind.phrase(curlCode: 7, osErrno: Int(ENETUNREACH)), "could not connect")
        XCTAssertEqual(FailureKind.phrase(curlCode: 28, osErrno: 0), "timed out")
        XCTAssertEqual(FailureKind.phrase(curlCode: 35, osErrno: 0), "TLS handshake failed")
        XCTAssertEqual(FailureKind.phrase(curlCode: 56, osErrno: Int(ECONNRESET)), "connection reset")
        XCTAssertEqual(FailureKind.phrase(curlCode: 99_999, osErrno: 0), "other transport error")
    }
}

extension Array {
    /// Every run of `n` consecutive elements.
    func windows(_ n: Int) -> [[Element]] {
        count < n ? [] : (0...(count - n)).map { Array(self[$0..<($0 + n)]) }
    }
}
