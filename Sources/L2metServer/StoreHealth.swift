import Foundation
import L2metCore
import L2metStore
import Synchronization

/// The store's health for `GET /health`, without an HTTP thread ever waiting on a slow store (it
/// would stop serving every drain on its event loop meanwhile: a stalled Redis and a few health
/// checks held drains for 20 s each). A request starts a ping on a thread of its own when the last
/// one ended at least `interval` ago, and waits at most `maxWait` for it; otherwise it answers from
/// the last ping. A ping still running after `maxWait` means the store is not answering.
final class StoreHealth: Sendable {
    private struct State {
        /// The ping in progress (left when it ends) and when it began; nil when none runs.
        var probe: (done: DispatchGroup, started: ContinuousClock.Instant)?
        var lastFinished: ContinuousClock.Instant?
        var lastResult = false
    }

    private let store: Store
    private let interval: Duration
    private let maxWait: Duration
    private let state = Mutex(State())

    init(store: Store, interval: Double = 1, maxWait: Double = 0.5) {
        self.store = store
        self.interval = .seconds(interval)
        self.maxWait = .seconds(maxWait)
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
        let probe = state.withLock { state in
            if state.probe == nil && state.lastFinished.map({ ContinuousClock.now - $0 >= interval }) ?? true {
                let done = DispatchGroup()
                done.enter()
                state.probe = (done, .now)
                Thread.detachNewThread { [self] in
                    let ok = (try? store.ping()) != nil
                    self.state.withLock { state in
                        state.lastResult = ok
                        state.lastFinished = .now
                        state.probe = nil
                    }
                    done.leave()
                }
            }
            return state.probe
        }
        if let probe {
            let remaining = probe.started + maxWait - ContinuousClock.now
            if remaining > .zero { _ = probe.done.wait(timeout: .now() + remaining.inSeconds) }
        }
        return state.withLock { $0.probe == nil ? $0.lastResult : false }
    }
}
