import Foundation
import L2metStore

/// The store's health for `GET /health`, without an HTTP thread ever waiting on a slow store (it
/// would stop serving every drain on its event loop meanwhile: a stalled Redis and a few health
/// checks held drains for 20 s each). A request starts a ping on a thread of its own when the last
/// one ended at least `interval` ago, and waits at most `maxWait` for it; otherwise it answers from
/// the last ping. A ping still running after `maxWait` means the store is not answering.
final class StoreHealth: @unchecked Sendable {
    private let store: Store
    private let interval: Double
    private let maxWait: Double
    private let condition = NSCondition()
    private var probing = false
    private var probeStarted = Date.distantPast
    private var lastFinished = Date.distantPast
    private var lastResult = false

    init(store: Store, interval: Double = 1, maxWait: Double = 0.5) {
        self.store = store
        self.interval = interval
        self.maxWait = maxWait
    }

    /// `/health`'s answer: 503 when the store does not answer its ping, or when the receiver's
    /// flusher has failed to write to it for longer than its bound (the store answers pings but
    /// refuses the flushes: out of memory, say).
    func status(flusher: Flusher?) -> (healthy: Bool, text: String) {
        guard isHealthy() else { return (false, "store unreachable") }
        if let flusher, let f = flusher.failure {
            return (false, "the store has refused this receiver's flushes for \(Int(f.seconds)) s "
                + "(limit \(Int(flusher.failureLimit)) s); holding \(f.buckets) buckets, \(f.bytes) bytes")
        }
        return (true, "ok")
    }

    /// True when the store answered its last ping, and that ping is not stuck.
    func isHealthy() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if !probing && Date().timeIntervalSince(lastFinished) >= interval {
            probing = true
            probeStarted = Date()
            Thread.detachNewThread { [self] in
                let ok = (try? store.ping()) != nil
                condition.lock()
                lastResult = ok
                lastFinished = Date()
                probing = false
                condition.broadcast()
                condition.unlock()
            }
        }
        let deadline = probeStarted.addingTimeInterval(maxWait)
        while probing && Date() < deadline { _ = condition.wait(until: deadline) }
        return probing ? false : lastResult
    }
}
