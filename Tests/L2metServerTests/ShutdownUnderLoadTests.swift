import Foundation
import L2metTestSupport
import L2metCrypto
import L2metHTTP
import XCTest

/// SIGTERM while several drains are posting: every line of a request answered 200 reaches the store,
/// and no request is answered 200 and then lost.
final class ShutdownUnderLoadTests: XCTestCase {
    /// What the clients saw, line by line.
    struct Tally {
        var accepted = 0       // in requests answered 200
        var refused = 0        // in requests answered something else (503 while stopping)
        var unknown = 0        // in requests that failed after they may have been sent (no answer)
        var notConnected = 0   // in requests that could not connect
        var statuses: [Int: Int] = [:]
        var errors: [String: Int] = [:]
    }

    func testEveryLineAnswered200BeforeSigtermReachesRedis() throws {
        let redis = try RedisServer()
        let key = freshFernetKey()
        let port = freePort()
        let l2met = try ChildProcess(["serve", "--receiver", "--port", "\(port)", "--redis-url", redis.url,
                                      "--flush-interval", "0.2", "--workers", "2"], environment: ["SECRETS": key])
        defer { _ = l2met.stop(signal: SIGKILL) }
        XCTAssertTrue(Drain.waitUntilListening(port: port), "l2met did not start: \(l2met.stdout)")
        let token = try Keyring(secrets: key).encrypt("load@example.com:load-token-5d1e", now: Int64(Date().timeIntervalSince1970))

        let linesPerRequest = 25
        let shared = Shared()
        let clients = 4
        let group = DispatchGroup()
        for c in 0..<clients {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                var failuresInARow = 0
                while true {
                    if shared.read({ $0.stop }) { return }
                    let now = Date().timeIntervalSince1970
                    var body = ""
                    for i in 0..<linesPerRequest { body += Drain.frame("count#hits=1 source=client.\(c) measure#n=\(i)", at: now) }
                    // Connect first, so a refused connection (the server is gone) is told apart from a
                    // request that was sent and got no answer.
                    let client: DrainConnection
                    do {
                        client = try DrainConnection(port: port)
                    } catch {
                        shared.update { $0.tally.notConnected += linesPerRequest }
                        failuresInARow += 1
                        if failuresInARow >= 20 { return }
                        Thread.sleep(forTimeInterval: 0.05)
                        continue
                    }
                    do {
                        let status = try client.post(body: body, token: token, query: "resolution=60")
                        shared.update {
                            $0.tally.statuses[status, default: 0] += 1
                            if status == 200 { $0.tally.accepted += linesPerRequest } else { $0.tally.refused += linesPerRequest }
                        }
                        failuresInARow = 0
                    } catch {
                        shared.update {
                            $0.tally.unknown += linesPerRequest
                            $0.tally.errors["\(error)", default: 0] += 1
                        }
                    }
                    client.close()
                }
            }
        }

        // Let the load run, then SIGTERM in the middle of it.
        let loaded = Date().addingTimeInterval(30)
        while Date() < loaded {
            if shared.read({ $0.tally.accepted }) >= 100 * linesPerRequest { break }
            Thread.sleep(forTimeInterval: 0.02)
        }
        XCTAssertEqual(l2met.stop(signal: SIGTERM, timeout: 15), 0, l2met.stdout)
        // The clients end once connections are refused.
        if group.wait(timeout: .now() + 30) == .timedOut {
            shared.update { $0.stop = true }
            group.wait()
        }
        let seen = shared.read { $0.tally }
        XCTAssertGreaterThan(seen.notConnected, 0, "the clients must have kept posting until the receiver was gone")

        let hits = try L2metStoreAccess.claimAll(redis.url).filter { $0.key.name == "hits" }.reduce(0.0) { $0 + $1.data.sum }
        let summary = "accepted \(seen.accepted), refused \(seen.refused), no answer \(seen.unknown), "
            + "not connected \(seen.notConnected), statuses \(seen.statuses), errors \(seen.errors), in Redis \(hits)"
        print("shutdown under load: \(summary)")
        // At least once: every line answered 200 is in Redis. Nothing invented: only lines of requests
        // answered 200, or sent without an answer, can be there.
        XCTAssertGreaterThanOrEqual(hits, Double(seen.accepted), "lines answered 200 were lost: \(summary)")
        XCTAssertLessThanOrEqual(hits, Double(seen.accepted + seen.unknown), summary)
        XCTAssertEqual(Set(seen.statuses.keys).subtracting([200, 503]), [], "unexpected answers: \(summary)")
        XCTAssertFalse(l2met.stdout.contains("load-token-5d1e"))
    }
}

/// The clients' tally and stop flag, behind a lock.
private final class Shared: @unchecked Sendable {
    struct State {
        var tally = ShutdownUnderLoadTests.Tally()
        var stop = false
    }
    private let lock = NSLock()
    private var state = State()
    func read<T>(_ f: (State) -> T) -> T { lock.lock(); defer { lock.unlock() }; return f(state) }
    func update(_ f: (inout State) -> Void) { lock.lock(); f(&state); lock.unlock() }
}

/// One drain request on a connection opened beforehand (so connecting and sending fail apart).
private final class DrainConnection {
    private let connection: HTTPClientConnection

    init(port: Int) throws {
        connection = try HTTPClientConnection(host: "127.0.0.1", port: port, timeout: 10)
    }

    func post(body: String, token: String, query: String) throws -> Int {
        let headers = [("Content-Type", "application/logplex-1"), ("Authorization", Drain.authorization(token: token))]
        return try connection.request(method: "POST", path: "/logs?\(query)", headers: headers, body: Array(body.utf8)).status
    }

    func close() { connection.close() }
}
