import XCTest
@testable import L2metCore

/// The word-at-a-time sanitiser against a byte-by-byte reading of the rule.
final class NameSanitizerTests: XCTestCase {
    static let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.:_-".utf8)

    /// The rule as written: allowed bytes stay, any other character becomes one `_`, at most `limit` bytes.
    static func reference(_ s: String, limit: Int) -> String {
        var out: [UInt8] = []
        for ch in s.unicodeScalars {
            if out.count >= limit { break }
            if ch.isASCII, allowed.contains(UInt8(ch.value)) { out.append(UInt8(ch.value)) } else { out.append(0x5F) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    func testAllowedNameBytes() {
        for b in 0...255 {
            XCTAssertEqual(NameSanitizer.isAllowed(UInt8(b)), Self.allowed.contains(UInt8(b)), "byte \(b)")
        }
    }

    func testEveryByteInEveryPositionOfAWord() {
        // Each byte value at each position of 8- and 16-byte names, so the word check meets it.
        for b in 0..<0x80 {
            for length in [8, 16] {
                for position in 0..<length {
                    var bytes = Array(repeating: UInt8(ascii: "a"), count: length)
                    bytes[position] = UInt8(b)
                    let s = String(decoding: bytes, as: UTF8.self)
                    XCTAssertEqual(NameSanitizer.sanitize(s), Self.reference(s, limit: NameSanitizer.maxLength),
                                   "byte \(b) at \(position) of \(length)")
                }
            }
        }
    }

    func testRandomNamesMatchTheRule() {
        var state: UInt64 = 7
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            return z ^ (z >> 27)
        }
        let alphabet = Array("abcXYZ019.:_-/ #=é€😀".unicodeScalars)
        for _ in 0..<5_000 {
            let length = Int(next() % 300)
            var s = String.UnicodeScalarView()
            for _ in 0..<length { s.append(alphabet[Int(next() % UInt64(alphabet.count))]) }
            let name = String(s)
            XCTAssertEqual(NameSanitizer.sanitize(name), Self.reference(name, limit: NameSanitizer.maxLength), name)
        }
    }
}
