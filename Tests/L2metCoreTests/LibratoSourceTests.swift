import Foundation
import L2metCore
import XCTest

/// Librato's reserved source `all` never reaches Librato, and sources stay distinct.
final class LibratoSourceTests: XCTestCase, BucketFixtures {
    func sources(_ body: [UInt8]) -> [String?] {
        let gauges = ((try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any])?["gauges"] as? [[String: Any]] ?? []
        return gauges.map { $0["source"] as? String }
    }

    func testTheReservedSourceAllIsRewrittenInAnyCase() {
        let cases: [(String, String)] = [
            ("all", "all_"), ("ALL", "ALL_"), ("All", "All_"), ("aLl", "aLl_"),
            ("all_", "all__"), ("ALL__", "ALL___"),
            // Not the reserved word: unchanged.
            ("al", "al"), ("alll", "alll"), ("all.1", "all.1"), ("all-", "all-"), ("_all", "_all"), ("ball", "ball"),
            ("all_x", "all_x"), ("web.1", "web.1"), ("", ""),
        ]
        for (source, expected) in cases {
            XCTAssertEqual(LibratoPayload.userSource(source), expected, source)
        }
        // One at Librato's length limit cannot grow (and is not `all`): unchanged.
        let longest = "all" + String(repeating: "_", count: LibratoPayload.maxSourceLength - 3)
        XCTAssertEqual(LibratoPayload.userSource(longest), longest)
    }

    func testTheBodyNeverHoldsAllAndKeepsSourcesApart() {
        let given = ["all", "ALL", "all_", "web.1", ""]
        let gauges = given.flatMap { LibratoPayload.gauges(for: key("hits", .counter, source: $0), data: bucket(.counter, [1])) }
        let sent = sources(LibratoPayload.json(gauges))
        XCTAssertEqual(sent, ["all_", "ALL_", "all__", "web.1", nil])
        XCTAssertFalse(sent.contains { $0?.lowercased() == "all" })
        let present = sent.compactMap { $0?.lowercased() }
        XCTAssertEqual(Set(present).count, present.count - 1, "only all and ALL meet, and Librato reads them as one source anyway (case-insensitive)")
        // The measurement's four gauges all carry the rewritten source.
        let summary = LibratoPayload.gauges(for: key("db", .measurement, source: "All"), data: bucket(.measurement, [1, 2]))
        XCTAssertEqual(sources(LibratoPayload.json(summary)), ["All_", "All_", "All_", "All_"])
    }
}
