import XCTest
@testable import L2metStore

/// The partition hash is fixed across processes: FNV-1a 32-bit test vectors.
final class PartitioningTests: XCTestCase {
    func testFNV1aVectors() {
        let table: [(String, UInt32)] = [("", 0x811C_9DC5), ("a", 0xE40C_292C), ("foobar", 0xBF9C_F968)]
        for (input, expected) in table {
            XCTAssertEqual(StorePartitioning.fnv1a(input.utf8), expected, input)
        }
    }

    func testPartitionIsInRangeAndOneWhenSingle() {
        for i in 0..<100 {
            let s = "tok|60|\(i)|c|name|src|"
            XCTAssertEqual(StorePartitioning.partition(ofStoreKey: s, partitions: 1), 0)
            XCTAssertTrue((0..<7).contains(StorePartitioning.partition(ofStoreKey: s, partitions: 7)))
        }
    }

    func testSHA1NamesScriptsAsRedisDoes() {
        XCTAssertEqual(SHA1.hex(Array("abc".utf8)), "a9993e364706816aba3e25717850c26c9cd0d89d")
        XCTAssertEqual(SHA1.hex([]), "da39a3ee5e6b4b0d3255bfef95601890afd80709")
    }
}
