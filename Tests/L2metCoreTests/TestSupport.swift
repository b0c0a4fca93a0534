@testable import L2metCore

/// Runs `body` over the UTF-8 bytes of `s`.
func withBytes<R>(_ s: String, _ body: (UnsafeRawBufferPointer) -> R) -> R {
    Array(s.utf8).withUnsafeBytes(body)
}

/// Runs `body` over `bytes`.
func withBytes<R>(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) -> R) -> R {
    bytes.withUnsafeBytes(body)
}

/// The bytes as a String (for assertions).
func text(_ b: UnsafeRawBufferPointer?) -> String? {
    guard let b else { return nil }
    return String(decoding: b, as: UTF8.self)
}

/// One octet-counted frame as logplex writes it; `length` overrides the counted length.
func frame(_ text: String, timestamp: String = "2009-02-13T23:31:30+00:00", procid: String = "web.1",
           app: String = "app", length: Int? = nil) -> String {
    let line = "<190>1 \(timestamp) host \(app) \(procid) - \(text)\n"
    return "\(length ?? line.utf8.count) \(line)"
}

/// 2009-02-13T23:31:30Z, a timestamp whose epoch value is well known.
let t0: Int64 = 1_234_567_890
let t0Micros: Int64 = t0 * 1_000_000
