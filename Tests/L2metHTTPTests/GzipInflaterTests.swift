import XCTest
@testable import L2metHTTP

/// The streaming gunzip, fed in pieces split at every point.
final class GzipInflaterTests: XCTestCase {
    /// A stored (level 0) body decodes to whole 16 KiB output slices at some split points, where zlib
    /// fills the output exactly as the input runs out; those bodies were once refused as malformed.
    func testEverySplitOfAStoredBodyInflates() {
        let plain = (0..<40_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let packed = gzip(plain, level: 0)
        let inflater = GzipInflater()
        // Around every 16 KiB of output (where the exact fills happen), and a spread elsewhere.
        let nearSlices = [16_384, 32_768].flatMap { ($0 - 40)...($0 + 40) }
        for split in Array(stride(from: 1, to: packed.count, by: 1_009)) + nearSlices {
            XCTAssertTrue(inflater.reset())
            var out: [UInt8] = []
            let first = packed[..<split].withUnsafeBytes { inflater.inflate($0, into: &out, limit: 1 << 20) }
            let second = packed[split...].withUnsafeBytes { inflater.inflate($0, into: &out, limit: 1 << 20) }
            guard first == .ok, second == .ok, inflater.atMemberEnd, out == plain else {
                XCTFail("split at \(split): \(first), \(second), end \(inflater.atMemberEnd), \(out.count) bytes")
                return
            }
        }
    }

    func testTruncatedAndCorruptBodiesAreNotComplete() {
        let packed = gzip(Array("hello hello hello".utf8))
        let inflater = GzipInflater()
        XCTAssertTrue(inflater.reset())
        var out: [UInt8] = []
        XCTAssertEqual(packed.dropLast(4).withUnsafeBytes { inflater.inflate($0, into: &out, limit: 1024) }, .ok)
        XCTAssertFalse(inflater.atMemberEnd, "a truncated body must not count as complete")
        XCTAssertTrue(inflater.reset())
        out = []
        var corrupt = packed
        corrupt[12] ^= 0xFF
        corrupt[13] ^= 0xFF
        let outcome = corrupt.withUnsafeBytes { inflater.inflate($0, into: &out, limit: 1024) }
        XCTAssertTrue(outcome == .malformed || !inflater.atMemberEnd, "a corrupt body must be refused")
    }
}
