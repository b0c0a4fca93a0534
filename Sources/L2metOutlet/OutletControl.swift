import Foundation

/// The stop and abort signals the outlet's threads share, and sleeps that a stop cuts short.
final class OutletControl: @unchecked Sendable {
    private let condition = NSCondition()
    private var stopping = false
    private var aborting = false

    /// No new claims, no new retries.
    var isStopping: Bool {
        condition.lock(); defer { condition.unlock() }
        return stopping
    }

    /// In-flight requests are abandoned too.
    var isAborting: Bool {
        condition.lock(); defer { condition.unlock() }
        return aborting
    }

    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }

    func abort() {
        condition.lock()
        stopping = true
        aborting = true
        condition.broadcast()
        condition.unlock()
    }

    /// Sleeps `seconds`; returns false at once (or as soon as it comes) when a stop is signalled.
    func sleep(_ seconds: Double) -> Bool {
        let until = Date().addingTimeInterval(seconds)
        condition.lock()
        defer { condition.unlock() }
        while !stopping {
            if !condition.wait(until: until) { return !stopping }
        }
        return false
    }
}
