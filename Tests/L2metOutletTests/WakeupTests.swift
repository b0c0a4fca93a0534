import Foundation
import XCTest
@testable import L2metOutlet

/// The outlet's condition variable and the stop signal's sleeps, on the monotonic clock.
final class WakeupTests: XCTestCase {
    func testANotificationAfterTheTicketIsNotSleptThrough() {
        let w = Wakeup()
        let ticket = w.ticket()
        w.notifyAll()  // between a sleeper's look at its state and its sleep
        let began = ContinuousClock.now
        w.wait(ticket, until: began + .seconds(10))
        XCTAssertLessThan(ContinuousClock.now - began, .seconds(1))
    }

    func testAWaitEndsAtItsDeadline() {
        let w = Wakeup()
        let began = ContinuousClock.now
        w.wait(w.ticket(), until: began + .milliseconds(100))
        let waited = ContinuousClock.now - began
        XCTAssertGreaterThanOrEqual(waited, .milliseconds(100))
        XCTAssertLessThan(waited, .seconds(5))
        w.wait(w.ticket(), until: began)  // a deadline passed: at once
    }

    func testANotificationWakesASleeper() {
        let w = Wakeup()
        let ticket = w.ticket()
        let woke = expectation(description: "woke")
        let began = ContinuousClock.now
        Thread.detachNewThread {
            w.wait(ticket, until: began + .seconds(30))
            woke.fulfill()
        }
        Thread.sleep(forTimeInterval: 0.05)
        w.notifyAll()
        wait(for: [woke], timeout: 10)
        XCTAssertLessThan(ContinuousClock.now - began, .seconds(10))
    }

    func testAStopCutsASleepShort() {
        let control = OutletControl()
        XCTAssertTrue(control.sleep(0.02), "a sleep that ran its time")
        let ended = expectation(description: "ended")
        Thread.detachNewThread {
            XCTAssertFalse(control.sleep(30), "a sleep cut short by the stop")
            ended.fulfill()
        }
        Thread.sleep(forTimeInterval: 0.05)
        control.stop()
        wait(for: [ended], timeout: 10)
        XCTAssertTrue(control.isStopping)
        XCTAssertFalse(control.isAborting)
        XCTAssertFalse(control.sleep(1), "no sleep once stopping")
        control.abort()
        XCTAssertTrue(control.isAborting)
    }
}
