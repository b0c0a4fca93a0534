import XCTest
@testable import L2metCore

/// The word-at-a-time key comparison and hash of the bucket table against their byte-by-byte forms.
final class BucketTableTests: XCTestCase {
    /// Two padded buffers (16 readable bytes past any length used here), filled with different junk
    /// past the compared bytes so a tail that is not masked shows.
    private func padded(_ bytes: [UInt8], junk: UInt8) -> UnsafeMutablePointer<UInt8> {
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: bytes.count + 16)
        p.initialize(repeating: junk, count: bytes.count + 16)
        p.update(from: bytes, count: bytes.count)
        return p
    }

    func testPaddedComparisonSeesEveryByteAndNothingPastTheEnd() {
        for n in 0...40 {
            let bytes = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            let a = padded(bytes, junk: 0xAA), b = padded(bytes, junk: 0x55)
            defer { a.deallocate(); b.deallocate() }
            XCTAssertTrue(BucketTable.same(a, b, n, padded: true), "n=\(n)")
            for i in 0..<n {
                b[i] ^= 0x01
                XCTAssertFalse(BucketTable.same(a, b, n, padded: true), "n=\(n) differing at \(i)")
                b[i] ^= 0x01
            }
        }
    }

    func testPaddedHashIsTheByteHash() {
        for n in 0...40 {
            let bytes = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 91 &+ 7) }
            let a = padded(bytes, junk: 0xFF)
            defer { a.deallocate() }
            XCTAssertEqual(ByteHash.hash(a, n, seed: 42, padded: true), ByteHash.hash(a, n, seed: 42), "n=\(n)")
        }
    }
}
