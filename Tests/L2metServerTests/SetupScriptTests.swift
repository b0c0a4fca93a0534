import Foundation
import L2metTestSupport
import XCTest

/// scripts/setup with the Heroku CLI and git stubbed by fakes on PATH: argument checks, a fresh key,
/// the Heroku calls, the health check and the drain URL it prints.
final class SetupScriptTests: XCTestCase {
    let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    struct Run { var status: Int32; var stdout: String; var stderr: String }

    func runSetup(_ args: [String], fakes: URL?) throws -> Run {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [repo.appendingPathComponent("scripts/setup").path] + args
        var env = ProcessInfo.processInfo.environment
        if let fakes { env["PATH"] = fakes.path + ":" + (env["PATH"] ?? "/usr/bin:/bin") }
        env["L2MET_BIN"] = ChildProcess.l2metPath
        env["HEALTH_TIMEOUT"] = "20"
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Run(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    func makeFakes(webURL: String) throws -> (URL, URL) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("l2met-setup-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let log = dir.appendingPathComponent("calls.log")
        let heroku = """
            #!/bin/bash
            echo "heroku $*" >> \(log.path)
            if [[ $1 == apps:info ]]; then echo "name=my-l2met"; echo "web_url=\(webURL)/"; fi
            exit 0
            """
        let git = """
            #!/bin/bash
            echo "git $*" >> \(log.path)
            exit 0
            """
        for (name, text) in [("heroku", heroku), ("git", git)] {
            let f = dir.appendingPathComponent(name)
            try text.write(to: f, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: f.path)
        }
        return (dir, log)
    }

    func testArgumentChecks() throws {
        let (fakes, _) = try makeFakes(webURL: "http://127.0.0.1:1")
        for args in [[], ["only-app"], ["Bad_Name", "u", "t"], ["my-l2met", "", "t"], ["my-l2met", "a:b", "t"]] {
            let r = try runSetup(args, fakes: fakes)
            XCTAssertEqual(r.status, 2, "args \(args) should be refused: \(r.stderr)")
            XCTAssertFalse(r.stderr.isEmpty)
        }
    }

    func testCreatesTheAppAndPrintsAWorkingDrainURL() throws {
        let health = try FakeLibrato()  // answers 200 to any path, /health included
        defer { health.stop() }
        let web = health.url.replacingOccurrences(of: "/v1/metrics", with: "")
        let (fakes, log) = try makeFakes(webURL: web)
        let r = try runSetup(["my-l2met", "ops@example.com", "librato-tok-123"], fakes: fakes)
        XCTAssertEqual(r.status, 0, r.stderr)

        let calls = try String(contentsOf: log, encoding: .utf8)
        XCTAssertTrue(calls.contains("heroku create my-l2met"), calls)
        XCTAssertTrue(calls.contains("heroku addons:create heroku-redis:mini -a my-l2met"), calls)
        XCTAssertTrue(calls.contains("git push https://git.heroku.com/my-l2met.git HEAD:main"), calls)
        let keyLine = calls.split(separator: "\n").first { $0.contains("config:set SECRETS=") }
        let key = keyLine.map { String($0.split(separator: " ")[2].dropFirst("SECRETS=".count)) } ?? ""
        XCTAssertEqual(key.count, 44, "SECRETS must be a fresh base64url key of 32 bytes: \(calls)")
        XCTAssertTrue(health.requests.contains { $0.path == "/health" }, "setup did not check /health")
        XCTAssertFalse(r.stdout.contains("librato-tok-123") || r.stderr.contains("librato-tok-123"),
                       "the Librato token must not be printed in clear")

        // Drain URL: http://TOKEN@127.0.0.1:PORT/logs, and the token decrypts to user:token.
        let line = r.stdout.split(separator: "\n").first { $0.hasPrefix("Drain URL: ") }.map(String.init) ?? ""
        let url = line.dropFirst("Drain URL: ".count)
        let hostPart = web.replacingOccurrences(of: "http://", with: "")
        XCTAssertTrue(url.hasPrefix("http://") && url.hasSuffix("@\(hostPart)/logs"), "unexpected drain URL \(line)")
        let token = String(url.dropFirst("http://".count).prefix { $0 != "@" })
        let verify = Process()
        verify.executableURL = URL(fileURLWithPath: ChildProcess.l2metPath)
        verify.arguments = ["verify", token]
        verify.environment = ["SECRETS": key]
        let pipe = Pipe()
        verify.standardOutput = pipe
        try verify.run()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        verify.waitUntilExit()
        XCTAssertEqual(out.trimmingCharacters(in: .whitespacesAndNewlines), "ops@example.com:librato-tok-123")
    }
}
