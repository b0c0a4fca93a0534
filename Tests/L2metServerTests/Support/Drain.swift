import Foundation
import L2metHTTP

/// Builds logplex bodies and POSTs them, as Heroku's drains do.
enum Drain {
    /// RFC3339 with microseconds, UTC.
    static func timestamp(_ t: Double) -> String {
        var secs = time_t(t.rounded(.down))
        var tm = tm()
        gmtime_r(&secs, &tm)
        let micros = Int(((t - t.rounded(.down)) * 1_000_000).rounded())
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%06d+00:00", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1,
                      Int(tm.tm_mday), Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec), micros)
    }

    /// One octet-counted RFC5424 frame, as logplex writes it (no structured data).
    static func frame(_ text: String, at t: Double, app: String = "app", procid: String = "web.1") -> String {
        let line = "<190>1 \(timestamp(t)) host \(app) \(procid) - \(text)\n"
        return "\(line.utf8.count) \(line)"
    }

    /// `Authorization` value for a drain token.
    static func authorization(token: String) -> String {
        "Basic " + Data((token + ":").utf8).base64EncodedString()
    }

    /// POSTs `body` to `/logs?query` and returns the status.
    static func post(port: Int, body: String, token: String? = nil, query: String = "") throws -> Int {
        let client = try HTTPClientConnection(host: "127.0.0.1", port: port, timeout: 10)
        defer { client.close() }
        var headers = [("Content-Type", "application/logplex-1")]
        if let token { headers.append(("Authorization", authorization(token: token))) }
        let path = query.isEmpty ? "/logs" : "/logs?\(query)"
        return try client.request(method: "POST", path: path, headers: headers, body: Array(body.utf8)).status
    }

    /// GETs `path` and returns status and body.
    static func get(port: Int, path: String) throws -> (Int, String) {
        let client = try HTTPClientConnection(host: "127.0.0.1", port: port, timeout: 10)
        defer { client.close() }
        let r = try client.request(method: "GET", path: path, headers: [], body: [])
        return (r.status, String(decoding: r.body, as: UTF8.self))
    }

    /// Waits until `GET /health` answers at all (any status), up to `timeout` seconds.
    static func waitUntilListening(port: Int, timeout: Double = 20) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if (try? get(port: port, path: "/health")) != nil { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return false
    }
}

/// Test access to the Redis that scripts/test started.
enum TestRedis {
    /// `REDIS_URL` with database `db` instead of the default one, flushed.
    static func freshURL(db: Int) throws -> String {
        guard let base = ProcessInfo.processInfo.environment["REDIS_URL"], !base.isEmpty else {
            throw TestSetupError("REDIS_URL is not set: run the tests through scripts/test, which starts a redis-server")
        }
        // redis://[:password@]host:port[/db] -> the same without the database, then /db.
        let schemeEnd = base.range(of: "://")!.upperBound
        let authority = base[schemeEnd...].prefix { $0 != "/" }
        let url = String(base[..<schemeEnd]) + authority + "/\(db)"
        try cli(url, ["FLUSHDB"])
        return url
    }

    /// Runs `redis-cli -u URL args…` and returns its output.
    @discardableResult
    static func cli(_ url: String, _ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["redis-cli", "-u", url] + args
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}

struct TestSetupError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// A fresh Fernet key: base64url of 32 random bytes.
func freshFernetKey() -> String {
    var bytes = [UInt8](repeating: 0, count: 32)
    for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255) }
    return Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
}
