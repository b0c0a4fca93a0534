import XCTest
@testable import L2metCrypto

/// The base64 codec under Fernet and Basic credentials.
final class Base64URLTests: XCTestCase {
    func testRFC4648Vectors() {
        let vectors: [(String, String)] = [
            ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy"),
        ]
        for (plain, encoded) in vectors {
            XCTAssertEqual(Base64URL.encode(Array(plain.utf8)), encoded)
            XCTAssertEqual(Base64URL.decode(encoded), Array(plain.utf8))
            XCTAssertEqual(Base64URL.decode(encoded.replacingOccurrences(of: "=", with: "")), Array(plain.utf8))
        }
    }

    func testURLSafeAlphabet() {
        XCTAssertEqual(Base64URL.encode([0xfb, 0xff, 0xbf]), "-_-_")
        XCTAssertEqual(Base64URL.decode("-_-_"), [0xfb, 0xff, 0xbf])
        XCTAssertNil(Base64URL.decode("+/+/"))
        XCTAssertEqual(Base64URL.decode("+/+/", standardAlphabet: true), [0xfb, 0xff, 0xbf])
    }

    func testRejectsWhatIsNotBase64() {
        for bad in ["Z", "Zg=", "Zg===", "Zm9v=", "Zm9v====", "Zm 9v", "Zm9v\n", "Zh==", "Zm9=", "=Zm9", "Zm=9v", "é"] {
            XCTAssertNil(Base64URL.decode(bad), bad)
            XCTAssertNil(Base64URL.decode(bad, standardAlphabet: true), bad)
        }
    }
}
