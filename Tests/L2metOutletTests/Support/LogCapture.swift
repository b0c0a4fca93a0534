import Foundation
import L2metObservability
import Logging

/// Collects what a logger (through the real logfmt handler) or the local sink writes.
final class LogCapture: @unchecked Sendable {
    /// The text, behind its lock (held by the output closure too, so it outlives this object).
    private final class Storage: @unchecked Sendable {
        let lock = NSLock()
        var text = ""
    }

    private let storage = Storage()
    let output: LogOutput

    init() {
        let storage = self.storage
        output = LogOutput { line in
            storage.lock.lock()
            storage.text += line
            storage.lock.unlock()
        }
    }

    var logger: Logger {
        let output = self.output
        return Logger(label: "test") { label in LogfmtLogHandler(label: label, level: .debug, output: output) }
    }

    var text: String {
        storage.lock.lock(); defer { storage.lock.unlock() }
        return storage.text
    }

    var lines: [String] { text.split(separator: "\n").map(String.init) }

    /// Waits until `predicate` holds for the text, up to `timeout` seconds.
    @discardableResult
    func wait(timeout: Double = 20, until predicate: (String) -> Bool) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if predicate(text) { return true }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return predicate(text)
    }
}
