import XCTest
@testable import L2metCore

/// Store data is read back as bytes; whatever they are, decoding answers a merge or nil, never traps,
/// and the outlet never writes a number JSON cannot hold.
final class BucketCodecTests: XCTestCase {
    private let key = BucketKey(token: "t", name: "n", source: "", kind: .measurement, units: "", resolution: 60,
                                time: 1_234_567_860)

    private func record(_ kind: UInt8, count: UInt32, sum: Double = 0, ts: Int64 = 0, last: Double = 0,
                        values: [Double] = []) -> [UInt8] {
        var out: [UInt8] = [kind]
        withUnsafeBytes(of: count.littleEndian) { out += $0 }
        withUnsafeBytes(of: sum.bitPattern.littleEndian) { out += $0 }
        withUnsafeBytes(of: ts.littleEndian) { out += $0 }
        withUnsafeBytes(of: last.bitPattern.littleEndian) { out += $0 }
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { out += $0 } }
        return out
    }

    /// Found by `scripts/fuzz format`: three sample records whose counts add up past 32 bits (the
    /// target expected every decoded bucket to re-encode; only a count that fits does).
    func testMergedCountsPastThirtyTwoBits() {
        let bytes: [UInt8] = Array(hex: "73737373737373737c7373737373737373737373732d73737373737373737373733030730000000000000065737373737373737373737373737373737373737373637373737373737373f673fbfbfbfbfb73090b002121")
        let d = BucketCodec.decode(bytes)
        XCTAssertEqual(d?.kind, .sample)
        XCTAssertGreaterThan(d?.count ?? 0, Int(UInt32.max))
        XCTAssertTrue(LibratoPayload.gauges(for: BucketKey(token: "t", name: "n", source: "", kind: .sample, units: "",
                                                           resolution: 60, time: 1_234_567_860), data: d!).allSatisfy(\.isFinite))
    }

    func testHostileRecords() {
        XCTAssertNil(BucketCodec.decode([UInt8]()))
        XCTAssertNil(BucketCodec.decode([UInt8](repeating: 0, count: 29)), "unknown kind")
        XCTAssertNil(BucketCodec.decode(Array(record(0x6D, count: 2, values: [1, 2]).dropLast())), "truncated value")
        // A count claiming four billion values with none there: refused without allocating them.
        XCTAssertNil(BucketCodec.decode(record(0x6D, count: .max)))
        XCTAssertNil(BucketCodec.decode(record(0x63, count: 1) + record(0x6D, count: 0)), "mixed kinds")
        XCTAssertNil(BucketCodec.decode(record(0x63, count: 1) + [0x63]), "trailing partial record")
        // Non-finite numbers in the store become no gauge rather than JSON that Librato refuses.
        let bad = BucketCodec.decode(record(0x6D, count: 3, sum: .nan, values: [.nan, .infinity, 1]))!
        XCTAssertEqual(bad.values.count, 3)
        let gauges = LibratoPayload.gauges(for: key, data: bad)
        XCTAssertTrue(gauges.allSatisfy(\.isFinite))
        let json = String(decoding: LibratoPayload.json(gauges), as: UTF8.self)
        XCTAssertFalse(json.contains("nan") || json.contains("inf"), json)
        XCTAssertNil(OTLPPayload.dataPoint(for: key, data: bad))
    }
}

private extension Array where Element == UInt8 {
    init(hex: String) {
        var out: [UInt8] = []
        var it = hex.utf8.makeIterator()
        while let h = it.next(), let l = it.next() {
            out.append(UInt8(String(decoding: [h, l], as: UTF8.self), radix: 16)!)
        }
        self = out
    }
}
