import Foundation
import L2metObservability
import Logging
import Synchronization

/// Collects what a logger (through the real logfmt handler) or the local sink writes.
final class LogCapture: Sendable {
    /// The text, behind its lock (held by the output closure too, so it outlives this object).
    private final class Storage: Sendable {
        let text = Mutex("")
    }

    private let storage = Storage()
    let output: LogOutput

    init() {
        let storage = self.storage
        output = LogOutput { line in
            storage.text.withLock { $0 += line }
        }
    }

    var logger: Logger {
        let output = self.output
        return Logger(label: "test") { label in LogfmtLogHandler(label: label, level: .debug, output: output) }
    }

    var text: String {
        storage.text.withLock { $0 }
    }

    var lines: [String] { text.split(separator: "\n").map(String.init) }

    /// Waits until `predicate` holds for the text, up to `timeout` seconds.
    @discardableResult
    func wait(timeout: Double = 20, until predicate: (String) -> Bool) -> Bool {
        let end = ContinuousClock.now + .seconds(timeout)
        while ContinuousClock.now < end {
            if predicate(text) { return true }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return predicate(text)
    }
}
