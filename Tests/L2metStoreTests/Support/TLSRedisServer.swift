import Foundation
import L2metTestSupport
@testable import L2metStore

/// A redis-server of a test's own that speaks only TLS (`--port 0 --tls-port P`), with a self-signed
/// certificate for 127.0.0.1 / localhost made by the `openssl` CLI. Missing `openssl` or a
/// redis-server without TLS is an error that says so: these tests must not be skipped.
final class TLSRedisServer {
    let server: RedisServer
    var port: Int { server.port }
    /// `rediss://[auth@]127.0.0.1:PORT[/db]`.
    func url(auth: String = "", db: Int = 0, query: String = "") -> String {
        "rediss://\(auth)127.0.0.1:\(port)/\(db)\(query)"
    }

    init(arguments: [String] = []) throws {
        let files = try TestCertificate.shared()
        let port = freePort()
        do {
            server = try RedisServer(port: port, arguments: [
                "--port", "0", "--tls-port", "\(port)",
                "--tls-cert-file", files.certificate, "--tls-key-file", files.key,
                "--tls-ca-cert-file", files.certificate, "--tls-auth-clients", "no",
            ] + arguments)
        } catch {
            throw TLSTestSetupError(description: "redis-server did not start with --tls-port (is it built with TLS? "
                + "Debian's redis-server 7 is): \(error)")
        }
    }

    func stop() { server.stop() }
    func start() throws { try server.start() }
}

/// A self-signed certificate and key in a temporary directory, made once per test process.
enum TestCertificate {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var made: (certificate: String, key: String)?  // guarded by `lock`

    static func shared() throws -> (certificate: String, key: String) {
        lock.lock()
        defer { lock.unlock() }
        if let made { return made }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("l2met-store-tls-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let cert = dir.appendingPathComponent("redis.crt").path, key = dir.appendingPathComponent("redis.key").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                       "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                       "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"]
        let errors = Pipe()
        p.standardOutput = FileHandle.nullDevice
        p.standardError = errors
        do { try p.run() } catch {
            throw TLSTestSetupError(description: "cannot run the openssl CLI to make a test certificate: \(error)")
        }
        let stderr = errors.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0, FileManager.default.fileExists(atPath: cert) else {
            throw TLSTestSetupError(description: "openssl CLI could not make a self-signed certificate (exit "
                + "\(p.terminationStatus); is the openssl package installed?): \(String(decoding: stderr, as: UTF8.self))")
        }
        made = (cert, key)
        return (cert, key)
    }
}

/// The TLS test fixtures could not be set up (no openssl CLI, or a redis-server without TLS).
struct TLSTestSetupError: Error, CustomStringConvertible {
    var description: String
}
