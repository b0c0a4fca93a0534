import Foundation
import L2metCrypto

/// Fernet figures: drain-token verifications per second through `DrainAuthenticator`, with its cache
/// (a busy drain: one dictionary lookup) and without (base64 + HMAC-SHA256 + AES-128-CBC + destination
/// parse on every request), plus tokens made per second.
/// `l2met-bench fernet [--seconds S]` (default 2 seconds per figure, one thread).
enum FernetBenchmark {
    static func run(_ args: [String]) {
        var seconds = 2.0
        if let i = args.firstIndex(of: "--seconds"), i + 1 < args.count, let s = Double(args[i + 1]), s > 0 { seconds = s }
        let now = Int64(Date().timeIntervalSince1970)
        let keyring: Keyring
        do {
            keyring = try Keyring(secrets: Fernet.generateKey())
        } catch {
            print("fernet: cannot make a keyring: \(error)")
            return
        }
        let token = keyring.encrypt("bench@example.com:not-a-real-librato-token-0123456789abcdef", now: now)
        let header = "Basic " + Data((token + ":").utf8).base64EncodedString()
        let cachedAuthenticator = DrainAuthenticator(keyring: keyring)
        let uncachedAuthenticator = DrainAuthenticator(keyring: keyring, cacheCapacity: 0)

        print("fernet: drain-token verifications through DrainAuthenticator, one thread, \(seconds) s each")
        // The cached line comes first: scripts/bench's `cached` pattern takes the first match.
        let cached = rate(seconds: seconds) { authenticate(cachedAuthenticator, header, now) }
        print("fernet cached: \(Int(cached)) verifications/s (repeat drain, cache hit)")
        let uncached = rate(seconds: seconds) { authenticate(uncachedAuthenticator, header, now) }
        print("fernet uncached: \(Int(uncached)) verifications/s (base64 + HMAC-SHA256 + AES-128-CBC every time)")
        let signing = rate(seconds: seconds) { keyring.encrypt("bench@example.com:tok", now: now).utf8.count > 0 }
        print("fernet sign: \(Int(signing)) tokens/s")
    }

    private static func authenticate(_ authenticator: DrainAuthenticator, _ header: String, _ now: Int64) -> Bool {
        if case .success = authenticator.authenticate(authorization: header, now: now) { return true }
        return false
    }

    /// Calls `body` for about `seconds` and returns calls per second; a failed call aborts the figure.
    private static func rate(seconds: Double, _ body: () -> Bool) -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        let limit = Duration.milliseconds(Int64(seconds * 1000))
        var calls = 0
        while true {
            for _ in 0..<256 {
                guard body() else {
                    print("fernet: a verification failed; figure aborted")
                    return 0
                }
            }
            calls += 256
            let elapsed = clock.now - start
            if elapsed >= limit {
                let (s, attos) = elapsed.components
                return Double(calls) / (Double(s) + Double(attos) / 1e18)
            }
        }
    }
}
