import Foundation
import XCTest
@testable import L2metCrypto

/// Interoperability with Python's `cryptography.fernet`, the reference implementation most drains'
/// tooling uses: its tokens decrypt here, ours decrypt there.
final class PythonInteropTests: XCTestCase {
    func testPythonTokensDecryptHere() throws {
        let fernet = try Fernet(key: PythonFernetFixtures.key)
        let keyring = try Keyring(secrets: PythonFernetFixtures.key)
        XCTAssertGreaterThanOrEqual(PythonFernetFixtures.cases.count, 5)
        for fixture in PythonFernetFixtures.cases {
            XCTAssertEqual(try fernet.decrypt(token: fixture.token, ttl: 60, now: fixture.madeAt + 30), fixture.plaintext, fixture.name)
            XCTAssertEqual(try keyring.decryptBytes(fixture.token, now: fixture.madeAt), fixture.plaintext, fixture.name)
            XCTAssertThrowsError(try fernet.decrypt(token: fixture.token, ttl: 60, now: fixture.madeAt + 61), fixture.name) {
                XCTAssertEqual($0 as? FernetError, .expired)
            }
        }
    }

    func testOurTokensDecryptInPython() throws {
        let key = Fernet.generateKey()
        let fernet = try Fernet(key: key)
        let now = Int64(Date().timeIntervalSince1970)
        let plaintexts: [[UInt8]] = [
            Array("librato-user@example.com:0123456789abcdef".utf8), [], Array("0123456789abcdef".utf8),
            Array("ünïcode ✓".utf8), Array(0...255), Array(repeating: 0x78, count: 333),
        ]
        let tokens = plaintexts.map { fernet.encrypt(plaintext: $0, now: now) }
        let script = """
            import sys, binascii
            from cryptography.fernet import Fernet
            f = Fernet(sys.argv[1].encode())
            now = int(sys.argv[2])
            for token in sys.stdin.read().split():
                print(binascii.hexlify(f.decrypt_at_time(token.encode(), 60, now)).decode() or "-")
            """
        let output = try runPython(script, arguments: [key, "\(now + 5)"], input: tokens.joined(separator: "\n"))
        let lines = output.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, plaintexts.count, output)
        for (line, plain) in zip(lines, plaintexts) {
            XCTAssertEqual(line, plain.isEmpty ? "-" : plain.map { String(format: "%02x", $0) }.joined())
        }
        // And Python refuses one we changed, like we do.
        var bytes = try XCTUnwrap(Base64URL.decode(tokens[0]))
        bytes[bytes.count - 1] ^= 1
        let refused = try runPython("""
            import sys
            from cryptography.fernet import Fernet, InvalidToken
            try:
                Fernet(sys.argv[1].encode()).decrypt_at_time(sys.stdin.read().strip().encode(), 60, int(sys.argv[2]))
                print("accepted")
            except InvalidToken:
                print("refused")
            """, arguments: [key, "\(now)"], input: Base64URL.encode(bytes))
        XCTAssertEqual(refused.trimmingCharacters(in: .whitespacesAndNewlines), "refused")
    }

    func testSpecVectorAgreesWithPython() throws {
        let out = try runPython("""
            import sys
            from cryptography.fernet import Fernet
            print(Fernet(sys.argv[1].encode()).decrypt_at_time(sys.argv[2].encode(), 60, int(sys.argv[3])).decode())
            """, arguments: [FernetTests.specKey, FernetTests.specToken, "\(FernetTests.specNow + 1)"], input: "")
        XCTAssertEqual(out.trimmingCharacters(in: .whitespacesAndNewlines), "hello")
    }

    /// Runs python3 with `cryptography`; a missing python3 or module FAILS the test (scripts/test
    /// installs them), it is never skipped.
    private func runPython(_ script: String, arguments: [String], input: String,
                           file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script] + arguments
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        do {
            try process.run()
        } catch {
            XCTFail("python3 could not be started (\(error)); install python3 and python3-cryptography", file: file, line: line)
            throw error
        }
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try? stdin.fileHandleForWriting.close()
        let out = stdout.fileHandleForReading.readDataToEndOfFile()
        let err = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let errText = String(decoding: err, as: UTF8.self)
        if process.terminationStatus != 0 {
            if errText.contains("No module named") || process.terminationStatus == 127 {
                XCTFail("python3 with the cryptography module is required for the interoperability tests: "
                        + "apt-get install python3-cryptography (or pip install cryptography). \(errText)", file: file, line: line)
            } else {
                XCTFail("python3 failed (status \(process.terminationStatus)): \(errText)", file: file, line: line)
            }
            throw PythonUnavailable()
        }
        return String(decoding: out, as: UTF8.self)
    }
}

private struct PythonUnavailable: Error {}
