import Foundation
import L2metCrypto
import L2metTestSupport
import XCTest

/// The `l2met` command line as an operator uses it: `sign`, `verify`, and what `serve` does with its
/// environment before it listens.
final class CommandLineTests: XCTestCase {
    /// Runs `l2met args…` to the end and returns its exit status, stdout and stderr.
    func run(_ args: [String], environment: [String: String] = [:], timeout: Double = 20) throws
        -> (status: Int32?, stdout: String, stderr: String) {
        let child = try ChildProcess(args, environment: environment)
        let end = Date().addingTimeInterval(timeout)
        while child.process.isRunning && Date() < end { Thread.sleep(forTimeInterval: 0.02) }
        let running = child.process.isRunning
        let status = child.stop(timeout: 5)
        return (running ? nil : status, child.stdout, child.stderr)
    }

    func testSignThenVerifyThroughTheBinary() throws {
        let key = freshFernetKey()
        let signed = try run(["sign", "--librato-user", "ops@example.com", "--librato-token", "abc123"],
                             environment: ["SECRETS": key])
        XCTAssertEqual(signed.status, 0, signed.stderr)
        let token = signed.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let verified = try run(["verify", token], environment: ["SECRETS": key])
        XCTAssertEqual(verified.status, 0, verified.stderr)
        XCTAssertEqual(verified.stdout, "ops@example.com:abc123\n")

        let url = try run(["sign", "--librato-user", "ops@example.com", "--librato-token", "abc123",
                           "--base-url", "https://my-l2met.example.com"], environment: ["SECRETS": key])
        XCTAssertEqual(url.status, 0, url.stderr)
        let line = url.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(line.hasPrefix("https://gAAAAA") && line.hasSuffix("@my-l2met.example.com/logs"), line)
        XCTAssertEqual(try run(["verify", line], environment: ["SECRETS": key]).stdout, "ops@example.com:abc123\n")
    }

    /// SECRETS made as the original l2met's README makes them (`openssl base64`, standard alphabet).
    func testStandardBase64SecretsWork() throws {
        let raw: [UInt8] = [0xFB, 0xFF, 0xBF] + (0..<29).map { _ in UInt8.random(in: 0...255) }
        let standard = Data(raw).base64EncodedString()
        XCTAssertTrue(standard.contains("+") && standard.contains("/"), standard)
        let signed = try run(["sign", "--librato-user", "u", "--librato-token", "t"], environment: ["SECRETS": standard])
        XCTAssertEqual(signed.status, 0, signed.stderr)
        let token = signed.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let urlSafe = standard.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        XCTAssertEqual(try run(["verify", token], environment: ["SECRETS": urlSafe]).stdout, "u:t\n")
    }

    /// Every way verify can fail: exit status 1, nothing on stdout, exactly one line on stderr.
    func testVerifyFailuresAreOneLineAndStatusOne() throws {
        let key = freshFernetKey()
        let now = Int64(Date().timeIntervalSince1970)
        let token = try Keyring(secrets: key).encrypt("u:t", now: now)
        let cases: [(args: [String], secrets: String?, says: String)] = [
            (["not base64!"], key, "bad base64"),
            ([String(repeating: "A", count: 100)], key, "wrong version"),
            (["--ttl", "10", "--now", "\(now + 100)", token], key, "expired"),
            (["--now", "2020-01-01T00:00:00Z", token], key, "from the future"),
            ([token], freshFernetKey(), "bad HMAC"),
            ([token], nil, "no key"),
            (["--now", "yesterday", token], key, "--now"),
        ]
        for c in cases {
            let r = try run(["verify"] + c.args, environment: c.secrets.map { ["SECRETS": $0] } ?? [:])
            XCTAssertEqual(r.status, 1, "\(c.args): \(r.stderr)")
            XCTAssertEqual(r.stdout, "", "\(c.args)")
            let lines = r.stderr.split(separator: "\n", omittingEmptySubsequences: false)
            XCTAssertEqual(lines.count, 2, "one line then the end: \(r.stderr)")
            XCTAssertTrue(r.stderr.hasPrefix("l2met verify: ") && r.stderr.contains(c.says), "\(c.args): \(r.stderr)")
            XCTAssertFalse(r.stderr.contains(key), "a key on stderr")
        }
    }

    /// `serve` with $PORT and no SECRETS: local mode on loopback, and it says so.
    func testServeDefaultsFromTheEnvironment() throws {
        let port = freePort()
        let local = try ChildProcess(["serve"], environment: ["PORT": "\(port)"])
        XCTAssertTrue(local.waitForOutput("local mode"), local.stdout + local.stderr)
        XCTAssertTrue(local.stdout.contains("bind=127.0.0.1"), local.stdout)
        XCTAssertTrue(local.stdout.contains("port=\(port)"), local.stdout)
        XCTAssertTrue(local.stdout.contains("store=memory"), local.stdout)
        XCTAssertEqual(try Drain.get(port: port, path: "/health").0, 200)
        XCTAssertEqual(local.stop(), 0)

        let other = freePort()
        let authenticated = try ChildProcess(["serve"], environment: ["PORT": "\(other)", "SECRETS": freshFernetKey()])
        XCTAssertTrue(authenticated.waitForOutput("msg=listening"), authenticated.stdout + authenticated.stderr)
        XCTAssertTrue(authenticated.stdout.contains("bind=0.0.0.0"), authenticated.stdout)
        XCTAssertTrue(authenticated.stdout.contains("mode=authenticated"), authenticated.stdout)
        XCTAssertFalse(authenticated.stdout.contains("local mode"), authenticated.stdout)
        XCTAssertEqual(authenticated.stop(), 0)
    }

    /// A $PORT that is not a number, or a knob that cannot work, stops `serve` before it listens
    /// instead of running on 8080 or with no outlet at all.
    func testServeRefusesSettingsThatCannotWork() throws {
        let refusals: [(args: [String], env: [String: String], says: String)] = [
            (["serve"], ["PORT": "eighty"], "PORT=eighty is not a valid value for --port"),
            (["serve"], ["L2MET_FLUSH_INTERVAL": "soon"], "L2MET_FLUSH_INTERVAL=soon is not a valid value for --flush-interval"),
            (["serve", "--port", "0"], ["L2MET_OUTLET_WORKERS": "0"], "--outlet-workers must be at least 1"),
            (["serve", "--port", "0"], ["L2MET_RECEIVER": "maybe"], "L2MET_RECEIVER=maybe is not true or false"),
            (["serve", "--port", "0", "--header-timeout=0"], [:], "--header-timeout must be above 0"),
            (["serve", "--port", "0", "--outlet-workers", "0"], [:], "--outlet-workers must be at least 1"),
            (["serve", "--port", "0", "--retention", "59"], [:], "--retention must be 60 to 604800 seconds"),
            (["serve", "--port", "0", "--outlet-per-destination", "0"], [:], "--outlet-per-destination must be at least 1"),
            (["serve", "--port", "0", "--workers", "0"], [:], "--workers must be at least 1"),
            (["serve", "--port", "0", "--body-limit", "0"], [:], "--body-limit must be at least 1"),
            (["serve", "--port", "0", "--memory-limit", "0"], [:], "--memory-limit must be at least 1"),
            (["serve", "--port", "0", "--outlet-timeout", "0"], [:], "--outlet-timeout must be above 0"),
            (["serve", "--port", "0", "--outlet-interval", "0"], [:], "--outlet-interval must be above 0"),
            (["serve", "--port", "0", "--request-timeout", "0"], [:], "--request-timeout must be above 0"),
        ]
        for r in refusals {
            let result = try run(r.args, environment: r.env, timeout: 10)
            XCTAssertNotNil(result.status, "\(r.args) \(r.env) kept running: \(result.stdout)")
            XCTAssertNotEqual(result.status, 0, "\(r.args) \(r.env)")
            XCTAssertTrue(result.stderr.contains(r.says), "\(r.args) \(r.env): \(result.stderr)")
            XCTAssertFalse(result.stdout.contains("msg=listening"), "\(r.args) \(r.env): \(result.stdout)")
        }
        // Every flag has its variable, and a flag wins over it.
        let fromEnvironment = try ChildProcess(["serve", "--port", "\(freePort())"],
                                               environment: ["L2MET_FRAME_ID_WINDOW": "17", "L2MET_OUTLET": "true"])
        XCTAssertTrue(fromEnvironment.waitForOutput("msg=listening"), fromEnvironment.stdout + fromEnvironment.stderr)
        XCTAssertTrue(fromEnvironment.stdout.contains("frame_id_window=17"), fromEnvironment.stdout)
        XCTAssertTrue(fromEnvironment.stdout.contains("receiver=false"), fromEnvironment.stdout)
        XCTAssertEqual(fromEnvironment.stop(), 0)
        let flagWins = try ChildProcess(["serve", "--port", "\(freePort())", "--frame-id-window", "9"],
                                        environment: ["L2MET_FRAME_ID_WINDOW": "17"])
        XCTAssertTrue(flagWins.waitForOutput("msg=listening"), flagWins.stdout + flagWins.stderr)
        XCTAssertTrue(flagWins.stdout.contains("frame_id_window=9"), flagWins.stdout)
        XCTAssertEqual(flagWins.stop(), 0)
        // $PORT is not read when --port is given.
        let port = freePort()
        let child = try ChildProcess(["serve", "--port", "\(port)"], environment: ["PORT": "eighty"])
        XCTAssertTrue(child.waitForOutput("msg=listening"), child.stdout + child.stderr)
        XCTAssertEqual(child.stop(), 0)
    }
}

extension CommandLineTests {
    /// A stdout that goes away (`l2met serve | head`, a log shipper that died) costs the lines, not the
    /// server: it keeps answering, prints its metrics into the void, and stops cleanly.
    func testAClosedStdoutDoesNotStopTheServer() throws {
        let port = freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ChildProcess.l2metPath)
        process.arguments = ["serve", "--port", "\(port)", "--log-level", "debug"]
        var env = ProcessInfo.processInfo.environment
        for key in ["SECRETS", "REDIS_URL", "LIBRATO_URL", "PORT"] { env.removeValue(forKey: key) }
        process.environment = env
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        try out.fileHandleForReading.close()   // nobody reads stdout any more: writes to it fail with EPIPE

        XCTAssertTrue(Drain.waitUntilListening(port: port))
        let now = Date().timeIntervalSince1970
        XCTAssertEqual(try Drain.post(port: port, body: Drain.frame("count#lost.lines=1", at: now), query: "resolution=1"), 200)
        Thread.sleep(forTimeInterval: 3)   // the interval closes and its metric line is written
        XCTAssertTrue(process.isRunning, "l2met died when its stdout closed")
        XCTAssertEqual(try Drain.get(port: port, path: "/health").0, 200)
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationReason, .exit)
        XCTAssertEqual(process.terminationStatus, 0)
    }

    /// A second `l2met serve` on a port another one listens on refuses to start rather than share the
    /// port (SO_REUSEPORT) and take half of the first one's drains.
    func testASecondServerOnABusyPortRefusesToStart() throws {
        let port = freePort()
        let first = try ChildProcess(["serve", "--port", "\(port)"], environment: ["SECRETS": freshFernetKey()])
        XCTAssertTrue(first.waitForOutput("msg=listening"), first.stdout + first.stderr)
        let second = try run(["serve", "--port", "\(port)"], timeout: 10)
        XCTAssertEqual(second.status, 1, second.stdout)
        XCTAssertTrue(second.stdout.contains("cannot start") && second.stdout.contains("Address already in use"), second.stdout)
        XCTAssertEqual(first.stop(), 0)
    }
}
