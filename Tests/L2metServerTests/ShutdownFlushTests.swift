import Foundation
import L2metCore
import L2metObservability
import L2metStore
import Logging
import XCTest
@testable import L2metServer

/// The last flush at shutdown and a body that arrives after it: the body is refused, never taken
/// into a register nobody flushes again.
final class ShutdownFlushTests: XCTestCase {
    func body(_ text: String) -> [UInt8] {
        let line = "<190>1 \(Drain.timestamp(Date().timeIntervalSince1970)) host app web.1 - \(text)\n"
        return Array("\(line.utf8.count) \(line)".utf8)
    }

    func testABodyAfterTheLastFlushIsRefusedNotLost() throws {
        let registers = RegisterPool(count: 2, deadline: 2)
        let store = MemoryStore()
        let flusher = Flusher(registers: registers, store: store, interval: 60, deadline: 2, memoryLimit: 1 << 20,
                              flushBytes: 1 << 20, metrics: MetricsRegistry(), logger: Logger(label: "test"))
        flusher.start()
        let options = DrainOptions(token: "t")
        let nowMicros = Int64(Date().timeIntervalSince1970 * 1_000_000)
        XCTAssertEqual(registers.ingest(body("count#kept=2"), options: options, nowMicros: nowMicros)?.measurements, 1)
        XCTAssertTrue(flusher.stopAndDrain(until: .now + .seconds(5)))
        XCTAssertNil(registers.ingest(body("count#late=1"), options: options, nowMicros: nowMicros),
                     "a body after the last flush must be refused")
        let held = try store.claim(partition: 0, now: Int64.max / 2, limit: 10, lease: 60)
        XCTAssertEqual(held.map(\.key.name), ["kept"])
        XCTAssertEqual(held.first?.data.sum, 2)
        XCTAssertTrue(registers.takeAll().isEmpty, "nothing may be held after the last flush")
    }
}
