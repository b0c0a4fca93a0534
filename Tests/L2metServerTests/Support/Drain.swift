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
