import XCTest
import L2metCrypto

/// `Authorization: Basic …` as drains send it.
final class BasicAuthorizationTests: XCTestCase {
    private func basic(_ s: String) -> String { Data(s.utf8).base64EncodedString() }

    func testForms() {
        // A user with bytes that encode to + and / in standard base64 (and - _ in URL-safe).
        let user = "gAAAAABl~~??>>"
        let standard = basic(user + ":")
        XCTAssertTrue(standard.contains("+") || standard.contains("/"), standard)
        let urlSafe = standard.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        let unpadded = standard.replacingOccurrences(of: "=", with: "")
        let cases: [(String?, String?)] = [
            ("Basic \(standard)", user),
            ("Basic \(urlSafe)", user),
            ("Basic \(unpadded)", user),
            ("basic \(standard)", user),
            ("BASIC   \(standard)  ", user),
            ("Basic \(basic("tok:secret-password"))", "tok"),       // password ignored
            ("Basic \(basic("tok:a:b"))", "tok"),                    // first colon splits
            ("Basic \(basic("tokenonly"))", "tokenonly"),            // no colon: all user
            ("Basic \(basic(":pw"))", nil),                          // empty user
            ("Basic \(basic(""))", nil),
            ("Basic", nil), ("Basic ", nil), ("Bearer \(standard)", nil), ("Basicx \(standard)", nil),
            ("Basic !!!!", nil), ("Basic \(standard)=", nil), ("", nil), (nil, nil),
            ("Basic \(Data([0xff, 0xfe, 0x3a]).base64EncodedString())", nil),   // not UTF-8
        ]
        for (header, expected) in cases {
            XCTAssertEqual(BasicAuthorization.user(of: header), expected, header ?? "nil")
        }
    }

    func testFernetTokenFromADrainURL() throws {
        // https://TOKEN@host/logs: the drain sends Basic base64(TOKEN:).
        let token = try Keyring(secrets: Fernet.generateKey()).encrypt("u:t", now: 1)
        XCTAssertEqual(BasicAuthorization.user(of: "Basic \(basic(token + ":"))"), token)
    }
}
