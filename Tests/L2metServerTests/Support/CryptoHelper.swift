import Foundation
import L2metCrypto

/// Drain tokens for tests, made with our Keyring.
enum L2metCryptoHelper {
    static func token(key: String, plaintext: String) throws -> String {
        try Keyring(secrets: key).encrypt(plaintext, now: Int64(Date().timeIntervalSince1970))
    }
}
