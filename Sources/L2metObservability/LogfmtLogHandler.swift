import Foundation
import Glibc
import Logging
import Synchronization

/// A swift-log handler writing one logfmt line per event to stdout, the Heroku convention:
/// `at=info msg="flushed" buckets=12 component=receiver`.
///
/// Values are quoted when they hold spaces, quotes or `=`. Callers never pass secrets as metadata;
/// as a second line of defence, metadata keys named like secrets (`token`, `password`, `secret`,
/// `key`, `authorization`) are written as `[redacted]`.
public struct LogfmtLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let label: String
    private let output: LogOutput

    public init(label: String, level: Logger.Level = .info, output: LogOutput = .standardOutput) {
        self.label = label
        self.logLevel = level
        self.output = output
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?,
                    source: String, file: String, function: String, line: UInt) {
        var line = "at=\(level.rawValue)"
        if !message.description.isEmpty { line += " msg=\(Self.quote(message.description))" }
        var merged = metadata
        if let explicit { merged.merge(explicit) { $1 } }
        for key in merged.keys.sorted() {
            let value = Self.isSecretKey(key) ? "[redacted]" : "\(merged[key]!)"
            line += " \(key)=\(Self.quote(value))"
        }
        line += "\n"
        output.write(line)
    }

    static func isSecretKey(_ key: String) -> Bool {
        let k = key.lowercased()
        return k.contains("token") || k.contains("password") || k.contains("secret") || k == "key"
            || k.contains("authorization")
    }

    /// Quotes a logfmt value when it needs it.
    public static func quote(_ s: String) -> String {
        if !s.isEmpty, !s.utf8.contains(where: { $0 <= 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "=") || $0 == UInt8(ascii: "\\") }) {
            return s
        }
        var out = "\""
        for ch in s.unicodeScalars {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out + "\""
    }
}

/// Where log lines go: stdout (line-buffered and locked, so lines from threads never interleave),
/// or a closure (tests).
///
/// `@unchecked Sendable`: `sink` is not `@Sendable`, by design (a test's closure appends to a local
/// array it reads afterwards on its own thread). Every call of it is serialised by `serial`; the
/// compiler cannot see that nothing else calls the closure or touches its captures while the output
/// is shared, which is the caller's promise in handing the closure over.
public final class LogOutput: @unchecked Sendable {
    private let serial = Mutex<Void>(())
    private let sink: (String) -> Void

    public init(_ sink: @escaping (String) -> Void) { self.sink = sink }

    /// Writes with write(2) and ignores failures: a stdout that is gone (a closed pipe: EPIPE) loses
    /// the line but must not stop the server, as `FileHandle.write` did (it traps).
    public static let standardOutput = LogOutput { line in
        var line = line
        line.withUTF8 { bytes in
            guard var p = bytes.baseAddress else { return }
            var left = bytes.count
            while left > 0 {
                let n = Glibc.write(1, p, left)
                if n < 0 {
                    if errno == EINTR { continue }
                    return
                }
                p += n
                left -= n
            }
        }
    }

    public func write(_ line: String) {
        serial.withLock { _ in sink(line) }
    }
}

/// Process-wide logging set-up.
public enum L2metLogging {
    /// Installs the logfmt handler for every logger of the process at `level`.
    public static func bootstrap(level: Logger.Level) {
        LoggingSystem.bootstrap { label in LogfmtLogHandler(label: label, level: level) }
    }
}
