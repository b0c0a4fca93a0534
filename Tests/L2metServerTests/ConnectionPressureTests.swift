import Foundation
import L2metHTTP
import L2metTestSupport
import XCTest

/// `l2met serve` with every connection slot taken by idle clients still answers a drain at once:
/// the oldest idle connections are closed to make room, instead of the drain getting 503 until
/// they time out.
final class ConnectionPressureTests: XCTestCase {
    /// Raises this process's descriptor limit to its hard limit; returns the limit in force.
    private func raiseDescriptorLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            _ = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        return Int(min(limit.rlim_cur, rlim_t(Int32.max)))
    }

    /// A connected socket from `source` (another loopback address is another peer), or nil.
    private func connect(port: Int, source: String) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        local.sin_addr.s_addr = inet_addr(source)
        var remote = Loopback.address(port: port)
        let ok = withUnsafePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0 && withUnsafePointer(to: &remote) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
        if !ok {
            close(fd)
            return nil
        }
        return fd
    }

    func testIdleConnectionsBeyondTheLimitDoNotKeepADrainOut() throws {
        // 10,000 connections (the default limit) and 500 more, when the descriptor limit allows it
        // (this process holds the client ends, l2met the server ends); fewer otherwise.
        let descriptors = raiseDescriptorLimit()
        let maxConnections = min(10_000, descriptors - 700)
        guard maxConnections >= 500 else { throw XCTSkip("descriptor limit \(descriptors) is too low") }
        let clients = maxConnections + 500
        // From 11 addresses, so no address reaches the per-peer cap (1,024 by default): this is
        // about the server-wide limit. Time-outs far longer than the test, so that only the
        // eviction of idle connections can let the drain in.
        let sources = (2...12).map { "127.0.0.\($0)" }
        let port = freePort()
        let l2met = try ChildProcess(["serve", "--port", "\(port)", "--max-connections", "\(maxConnections)",
                                      "--header-timeout", "60", "--request-timeout", "60", "--idle-timeout", "120"])
        defer { _ = l2met.stop() }
        XCTAssertTrue(Drain.waitUntilListening(port: port), "l2met did not start: \(l2met.stdout) \(l2met.stderr)")

        var idle: [Int32] = []
        idle.reserveCapacity(clients)
        defer { for fd in idle { close(fd) } }
        let started = Date()
        for i in 0..<clients {
            guard let fd = connect(port: port, source: sources[i % sources.count]) else {
                XCTFail("connection \(i) failed: errno \(errno)")
                return
            }
            idle.append(fd)
        }
        let opened = Date().timeIntervalSince(started)

        // A drain (from yet another address) is answered 200, and soon.
        let before = Date()
        let status = try Drain.post(port: port, body: Drain.frame("count#pressure.hits=1", at: Date().timeIntervalSince1970))
        let took = Date().timeIntervalSince(before)
        XCTAssertEqual(status, 200)
        XCTAssertLessThan(took, 5, "the drain waited \(took) s")

        // The connections closed to make room are the oldest ones; the newest are still open.
        var closedCount = 0
        var firstOpen = clients
        var polls = idle.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        let deadline = Date().addingTimeInterval(10)
        repeat {
            for i in polls.indices { polls[i].revents = 0 }
            _ = poll(&polls, nfds_t(polls.count), 0)
            closedCount = polls.filter { $0.revents != 0 }.count
            firstOpen = polls.firstIndex { $0.revents == 0 } ?? clients
            if closedCount >= clients - maxConnections + 1 { break }  // the drain's own connection made room too
            Thread.sleep(forTimeInterval: 0.1)
        } while Date() < deadline
        XCTAssertGreaterThanOrEqual(closedCount, clients - maxConnections, "one idle connection per extra one was closed")
        XCTAssertLessThan(closedCount, clients / 2, "only as many as it took were closed")
        XCTAssertEqual(polls.last?.revents, 0, "the newest idle connection is still open")
        // Oldest by accept time, per HTTP worker; accept order across workers is not connect order, so:
        // mostly among the first connections made.
        let closedEarly = polls.prefix(1_000).filter { $0.revents != 0 }.count
        XCTAssertGreaterThanOrEqual(closedEarly, (clients - maxConnections) * 8 / 10, "the oldest were closed first")
        print("opened \(clients) connections in \(String(format: "%.1f", opened)) s; drain answered in "
              + "\(String(format: "%.3f", took)) s; \(closedCount) idle connections closed, the first still open is #\(firstOpen)")
    }
}
