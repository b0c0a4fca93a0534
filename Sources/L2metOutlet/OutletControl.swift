import Synchronization

/// The stop and abort signals the outlet's threads share, and sleeps that a stop cuts short.
final class OutletControl: Sendable {
    private let stopping = Atomic<Bool>(false)
    private let aborting = Atomic<Bool>(false)
    private let wakeup = Wakeup()

    /// No new claims, no new retries.
    var isStopping: Bool { stopping.load(ordering: .acquiring) }

    /// In-flight requests are abandoned too.
    var isAborting: Bool { aborting.load(ordering: .acquiring) }

    func stop() {
        stopping.store(true, ordering: .releasing)
        wakeup.notifyAll()
    }

    func abort() {
        stopping.store(true, ordering: .releasing)
        aborting.store(true, ordering: .releasing)
        wakeup.notifyAll()
    }

    /// Sleeps `seconds` (on the monotonic clock); returns false at once (or as soon as it comes) when a
    /// stop is signalled.
    func sleep(_ seconds: Double) -> Bool {
        let until = ContinuousClock.now + .seconds(seconds)
        while true {
            let ticket = wakeup.ticket()
            if isStopping { return false }
            if ContinuousClock.now >= until { return true }
            wakeup.wait(ticket, until: until)
        }
    }
}
