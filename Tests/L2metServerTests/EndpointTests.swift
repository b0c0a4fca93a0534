import Foundation
import L2metCore
import L2metCrypto
import L2metHTTP
import L2metServer
import XCTest

/// The endpoints of the contract, against a `Server` in this process on an ephemeral port.
final class EndpointTests: XCTestCase {
    /// A started server with the in-memory store; `secrets` nil means local mode.
    func startServer(secrets: String?, configure: (inout ServerConfiguration) -> Void = { _ in }) throws -> Server {
        var c = ServerConfiguration()
        c.secrets = secrets
        c.port = 0
        c.bind = "127.0.0.1"
        c.runOutlet = false
        c.http.workers = 2
        configure(&c)
        let server = try Server(configuration: c)
        try server.start()
        return server
    }

    func request(_ server: Server, _ method: String, _ path: String, headers: [(String, String)] = [],
                 body: String = "") throws -> (status: Int, body: String) {
        let client = try HTTPClientConnection(host: "127.0.0.1", port: server.port, timeout: 10)
        defer { client.close() }
        let r = try client.request(method: method, path: path, headers: headers, body: Array(body.utf8))
        return (r.status, String(decoding: r.body, as: UTF8.self))
    }

    /// The value of an unlabelled series in a Prometheus text page.
    func series(_ page: String, _ name: String) -> Double? {
        for line in page.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Double(line.split(separator: " ")[1])
        }
        return nil
    }

    func testLocalModeTakesDrainsWithoutCredentialsAndCountsThem() throws {
        let server = try startServer(secrets: nil)
        defer { server.stop() }
        let now = Date().timeIntervalSince1970
        let body = Drain.frame("count#orders=3 measure#render=12.5ms source=web.3", at: now)
            + Drain.frame("measure#bad=fast count#ok=1", at: now)
            + Drain.frame("just a log line", at: now)
        XCTAssertEqual(try request(server, "POST", "/logs", body: body).status, 200)

        let metrics = try request(server, "GET", "/metrics")
        XCTAssertEqual(metrics.status, 200)
        XCTAssertEqual(series(metrics.body, "l2met_frames_total"), 3, metrics.body)
        XCTAssertEqual(series(metrics.body, "l2met_lines_total"), 3, metrics.body)
        XCTAssertEqual(series(metrics.body, "l2met_measurements_total"), 3, metrics.body)  // orders, render, ok
        XCTAssertTrue(metrics.body.contains("l2met_dropped_total{reason=\"bad_value\"} 1"), metrics.body)
        XCTAssertTrue(metrics.body.contains("l2met_http_requests_total{status=\"200\"}"), metrics.body)
        XCTAssertTrue(metrics.body.contains("# TYPE l2met_lines_total counter"), metrics.body)
    }

    func testHealthAnswersWhileTheStoreAnswers() throws {
        let server = try startServer(secrets: nil)
        defer { server.stop() }
        XCTAssertEqual(try request(server, "GET", "/health").status, 200)
        XCTAssertEqual(try request(server, "POST", "/health").status, 405)
    }

    func testWrongMethodsPathsAndOptions() throws {
        let server = try startServer(secrets: nil)
        defer { server.stop() }
        let cases: [(String, String, Int)] = [
            ("GET", "/logs", 405),
            ("PUT", "/logs", 405),
            ("POST", "/metrics", 405),
            ("GET", "/nowhere", 404),
            ("POST", "/logs?resolution=0", 400),
            ("POST", "/logs?resolution=3601", 400),
            ("POST", "/logs?resolution=ten", 400),
            ("POST", "/logs?resolution=3600", 200),
            ("POST", "/logs?resolution=1&prefix=shop&source-prefix=eu", 200),
        ]
        for (method, path, status) in cases {
            XCTAssertEqual(try request(server, method, path, body: "").status, status, "\(method) \(path)")
        }
    }

    func testABodyWithNoReadableFrameIsRefused() throws {
        let server = try startServer(secrets: nil)
        defer { server.stop() }
        let r = try request(server, "POST", "/logs", body: "this is not a logplex body")
        XCTAssertEqual(r.status, 400, r.body)
    }

    /// Frames that are all unreadable as RFC5424 carry nothing that can be delivered: 400, not 200.
    /// One readable line among them is enough for 200 (the others are counted and skipped).
    func testABodyWhoseFramesHaveNoRFC5424HeaderIsRefused() throws {
        let server = try startServer(secrets: nil)
        defer { server.stop() }
        let notSyslog = "5 hello11 hello world"
        let r = try request(server, "POST", "/logs", body: notSyslog)
        XCTAssertEqual(r.status, 400, r.body)
        let mixed = notSyslog + Drain.frame("count#x=1", at: Date().timeIntervalSince1970)
        XCTAssertEqual(try request(server, "POST", "/logs", body: mixed).status, 200)
        let metrics = try request(server, "GET", "/metrics").body
        XCTAssertTrue(metrics.contains("l2met_dropped_total{reason=\"bad_header\"} 4"), metrics)
        XCTAssertEqual(try request(server, "POST", "/logs", body: "").status, 200)   // nothing sent, nothing lost
    }

    /// A 405 names the methods that are allowed (RFC 9110 requires `Allow` on it); HEAD works wherever GET does.
    func testMethodNotAllowedSaysWhatIsAllowed() throws {
        let server = try startServer(secrets: freshFernetKey())
        defer { server.stop() }
        let cases: [(String, String, String)] = [
            ("GET", "/logs", "POST"), ("DELETE", "/health", "GET, HEAD"), ("POST", "/metrics", "GET, HEAD"),
            ("GET", "/sign", "POST"),
        ]
        for (method, path, allow) in cases {
            let client = try HTTPClientConnection(host: "127.0.0.1", port: server.port, timeout: 10)
            defer { client.close() }
            let r = try client.request(method: method, path: path, headers: [], body: [])
            XCTAssertEqual(r.status, 405, "\(method) \(path)")
            XCTAssertEqual(r.header("allow"), allow, "\(method) \(path)")
        }
        let client = try HTTPClientConnection(host: "127.0.0.1", port: server.port, timeout: 10)
        defer { client.close() }
        let head = try client.request(method: "HEAD", path: "/metrics", headers: [], body: [])
        XCTAssertEqual(head.status, 200)
        XCTAssertTrue(head.body.isEmpty)
    }

    func testDrainsNeedATokenMadeWithOneOfTheKeys() throws {
        let key = freshFernetKey()
        let server = try startServer(secrets: key)
        defer { server.stop() }
        let body = Drain.frame("count#x=1", at: Date().timeIntervalSince1970)
        let good = try L2metCryptoHelper.token(key: key, plaintext: "u@example.com:tok")
        let other = try L2metCryptoHelper.token(key: freshFernetKey(), plaintext: "u@example.com:tok")
        XCTAssertEqual(try request(server, "POST", "/logs", headers: [("Authorization", Drain.authorization(token: good))],
                                   body: body).status, 200)
        // URL-safe base64 of the same credentials is accepted too.
        let urlSafe = "Basic " + Data((good + ":").utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        XCTAssertEqual(try request(server, "POST", "/logs", headers: [("Authorization", urlSafe)], body: body).status, 200)
        for auth in [nil, Drain.authorization(token: other), "Basic !!!", "Bearer \(good)", Drain.authorization(token: "x")] {
            let headers = auth.map { [("Authorization", $0)] } ?? []
            let r = try request(server, "POST", "/logs", headers: headers, body: body)
            XCTAssertEqual(r.status, 401, "\(String(describing: auth))")
            XCTAssertFalse(r.body.contains(good), "an answer must not echo the token")
        }
    }

    func testSignMakesTokensForHoldersOfAKey() throws {
        let key = freshFernetKey()
        let second = freshFernetKey()
        let server = try startServer(secrets: "\(key):\(second)")
        defer { server.stop() }
        for holder in [key, second] {
            let auth = "Basic " + Data("\(holder):".utf8).base64EncodedString()
            let r = try request(server, "POST", "/sign", headers: [("Authorization", auth)], body: "ops@example.com:abc123\n")
            XCTAssertEqual(r.status, 200, r.body)
            let token = r.body.trimmingCharacters(in: .whitespacesAndNewlines)
            // Made with the first key, whoever asked.
            XCTAssertEqual(try Keyring(secrets: key).decrypt(token, now: Int64(Date().timeIntervalSince1970)),
                           "ops@example.com:abc123")
        }
        let stranger = "Basic " + Data("\(freshFernetKey()):".utf8).base64EncodedString()
        XCTAssertEqual(try request(server, "POST", "/sign", headers: [("Authorization", stranger)], body: "u:t").status, 401)
        XCTAssertEqual(try request(server, "POST", "/sign", body: "u:t").status, 401)
        let auth = "Basic " + Data("\(key):".utf8).base64EncodedString()
        XCTAssertEqual(try request(server, "POST", "/sign", headers: [("Authorization", auth)], body: "no-colon").status, 400)
        XCTAssertEqual(try request(server, "POST", "/sign", headers: [("Authorization", auth)],
                                   body: "gopher://x").status, 400)
        XCTAssertEqual(try request(server, "GET", "/sign", headers: [("Authorization", auth)]).status, 405)
        // A body ending in CR LF (one Swift Character) is trimmed like one ending in LF; a line break
        // inside the credentials is refused instead of being signed into the token.
        let crlf = try request(server, "POST", "/sign", headers: [("Authorization", auth)], body: "ops@example.com:abc123\r\n")
        XCTAssertEqual(crlf.status, 200, crlf.body)
        XCTAssertEqual(try Keyring(secrets: key).decrypt(crlf.body.trimmingCharacters(in: .whitespacesAndNewlines),
                                                         now: Int64(Date().timeIntervalSince1970)), "ops@example.com:abc123")
        XCTAssertEqual(try request(server, "POST", "/sign", headers: [("Authorization", auth)],
                                   body: "ops@example.com:abc\r\n123").status, 400)
    }

    func testSignIsUnavailableInLocalMode() throws {
        let server = try startServer(secrets: nil)
        defer { server.stop() }
        XCTAssertEqual(try request(server, "POST", "/sign", body: "u:t").status, 404)
    }

    /// libcurl would take a Librato URL without a scheme as plain http (the Librato token in clear) and
    /// try other schemes as they are: only http(s) URLs with a host start, and the error does not
    /// repeat the URL (it may hold credentials). Local mode and receivers never post to it.
    func testALibratoURLThatIsNotHTTPStopsStartUp() throws {
        let key = freshFernetKey()
        for url in ["metrics-api.librato.com/v1/metrics", "ftp://u:secret@host/v1", "https://", "https:///v1", "http://:80/x", ""] {
            var c = ServerConfiguration()
            c.secrets = key
            c.libratoURL = url
            XCTAssertThrowsError(try Server(configuration: c), url) { error in
                XCTAssertTrue("\(error)".contains("Librato URL"), "\(error)")
                XCTAssertFalse("\(error)".contains("secret"), "\(error)")
            }
        }
        for url in ["https://metrics-api.librato.com/v1/metrics", "http://127.0.0.1:8080/v1/metrics", "HTTPS://u:p@host"] {
            var c = ServerConfiguration()
            c.secrets = key
            c.libratoURL = url
            XCTAssertNoThrow(try Server(configuration: c), url)
        }
        var receiverOnly = ServerConfiguration()
        receiverOnly.secrets = key
        receiverOnly.libratoURL = "not used"
        receiverOnly.runOutlet = false
        XCTAssertNoThrow(try Server(configuration: receiverOnly))
        var local = ServerConfiguration()
        local.libratoURL = "not used"
        XCTAssertNoThrow(try Server(configuration: local))
    }

    func testAMalformedKeyStopsStartUpNamingItsPosition() throws {
        var c = ServerConfiguration()
        c.secrets = "\(freshFernetKey()):not-a-key"
        XCTAssertThrowsError(try Server(configuration: c)) { error in
            XCTAssertTrue("\(error)".contains("2"), "the error should name key 2: \(error)")
            XCTAssertFalse("\(error)".contains("not-a-key"), "the error must not print the key")
        }
    }
}
