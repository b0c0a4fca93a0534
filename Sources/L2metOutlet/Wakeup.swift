import Glibc
import Synchronization

/// Wakes threads that sleep until something changes or a time passes: the outlet's one condition
/// variable (senders waiting for work in `DeliveryScheduler`, the claimer's pauses in `OutletControl`).
///
/// The state sleepers wait for lives elsewhere, in a `Mutex` or an `Atomic`; this only carries the
/// news that it changed, as an event count. A sleeper takes a `ticket()` *before* it looks at that
/// state, and `wait(_:until:)` returns at once when `notifyAll()` came after the ticket was taken; a
/// changer changes the state first, then calls `notifyAll()`. So a change made between a sleeper's
/// look and its sleep is never slept through.
///
/// Not `NSCondition`: its timed wait takes a `Date` and sleeps until that wall-clock time
/// (`pthread_cond_timedwait` on CLOCK_REALTIME), so a step of the system clock (NTP, an operator)
/// would cut a pause short or stretch it by the size of the step. This one sleeps on CLOCK_MONOTONIC;
/// deadlines are `ContinuousClock` instants, like every deadline in the outlet.
///
/// `@unchecked Sendable`: it owns a pthread mutex and condition variable, allocated once at fixed
/// addresses and destroyed in `deinit`; pthread makes them safe to use from any thread, which the
/// compiler cannot see through raw pointers. Its one Swift value, the event count, is an `Atomic`.
final class Wakeup: @unchecked Sendable {
    /// The event count when a sleeper looked.
    struct Ticket {
        fileprivate let count: UInt64
    }

    private let events = Atomic<UInt64>(0)
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deinitialize(count: 1)
        condition.deallocate()
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    /// Take it before looking at the state a wait is for.
    func ticket() -> Ticket {
        Ticket(count: events.load(ordering: .acquiring))
    }

    /// Wakes every sleeper; call after changing the state they wait for.
    func notifyAll() {
        events.wrappingAdd(1, ordering: .releasing)
        // Taking the mutex orders this after a sleeper's check of the count: a sleeper that saw the
        // old count is already asleep on the condition when the broadcast comes.
        pthread_mutex_lock(mutex)
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }

    /// Sleeps until `notifyAll()` is called after `ticket` was taken (at once if it was already), or
    /// until `deadline`. It may also return early for no reason: callers look at their state again.
    func wait(_ ticket: Ticket, until deadline: ContinuousClock.Instant) {
        let left = min(deadline - ContinuousClock.now, .seconds(86_400))
        guard left > .zero else { return }
        var end = timespec()
        clock_gettime(CLOCK_MONOTONIC, &end)
        let (seconds, attoseconds) = left.components
        end.tv_sec += Int(seconds)
        end.tv_nsec += Int(attoseconds / 1_000_000_000)
        if end.tv_nsec >= 1_000_000_000 {
            end.tv_sec += 1
            end.tv_nsec -= 1_000_000_000
        }
        pthread_mutex_lock(mutex)
        if events.load(ordering: .acquiring) == ticket.count {
            _ = pthread_cond_timedwait(condition, mutex, &end)
        }
        pthread_mutex_unlock(mutex)
    }
}
