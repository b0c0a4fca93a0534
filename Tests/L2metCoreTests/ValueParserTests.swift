import XCTest
@testable import L2metCore

final class ValueParserTests: XCTestCase {
    func parse(_ s: String) -> (Double, String)? {
        withBytes(s) { buf in ValueParser.parse(buf).map { ($0.value, text($0.units)!) } }
    }

    func testTable() {
        let cases: [(String, Double?, String)] = [
            ("4", 4, ""),
            ("4ms", 4, "ms"),
            ("21.22MB", 21.22, "MB"),
            ("-3", -3, ""),
            ("+3.5", 3.5, ""),
            ("-0.25s", -0.25, "s"),
            ("1e3", 1000, ""),
            ("1E3ms", 1000, "ms"),
            ("2.5e-3s", 0.0025, "s"),
            ("-1.5E+2", -150, ""),
            ("12events", 12, "events"),
            ("12e", 12, "e"),
            ("12ex", 12, "ex"),
            (".5", 0.5, ""),
            ("5.", 5, ""),
            ("0", 0, ""),
            ("007", 7, ""),
            ("45%", 45, "%"),
            ("0.1", 0.1, ""),
            ("123456789012345678901234567890", 123456789012345678901234567890.0, ""),
            ("9007199254740993", 9007199254740993.0, ""),
            ("1e23", 1e23, ""),
            ("1.7976931348623157e308", 1.7976931348623157e308, ""),
            ("4.9e-324", Double.leastNonzeroMagnitude, ""),
            ("1e-400", 0, ""),
            ("0e999", 0, ""),
            // Do not parse:
            ("", nil, ""),
            ("-", nil, ""),
            (".", nil, ""),
            ("ms", nil, ""),
            ("abc", nil, ""),
            ("12ms3", nil, ""),
            ("1.2.3", nil, ""),
            ("1,5", nil, ""),
            ("1e400", nil, ""),
            ("nan", nil, ""),
            ("inf", nil, ""),
            ("0x10", nil, ""),
            ("4 ms", nil, ""),
            ("4ms/s", nil, ""),
            ("1" + String(repeating: "u", count: 33), nil, ""),
        ]
        for (s, value, units) in cases {
            let r = parse(s)
            if let value {
                XCTAssertEqual(r?.0, value, s)
                XCTAssertEqual(r?.1, units, s)
            } else {
                XCTAssertNil(r.map { "\($0)" }, s)
            }
        }
        XCTAssertEqual(parse("-0")?.0.sign, .minus)
    }

    /// The same digits give exactly what `Double(String)` gives, on the fast path and the strtod path.
    func testMatchesSwiftDoubleParsing() {
        var inputs = ["0.1", "0.2", "0.3", "1.1", "2.675", "123.456", "9007199254740992", "9007199254740993",
                      "0.000001", "1e22", "1e-22", "123e20", "1.5e-7", "3.14159265358979323846", "2.2250738585072014e-308",
                      "8.98846567431158e307", "4503599627370497.5", "0.30000000000000004", "100000000000000000000001"]
        var seed: UInt64 = 12345
        for _ in 0..<2000 {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            let intPart = seed >> 40
            let frac = (seed >> 8) & 0xFFFFF
            let exp = Int((seed >> 3) & 0x3F) - 32
            inputs.append("\(intPart).\(frac)")
            inputs.append("\(intPart).\(frac)e\(exp)")
        }
        for s in inputs {
            XCTAssertEqual(parse(s)?.0.bitPattern, Double(s)?.bitPattern, s)
        }
    }
}
