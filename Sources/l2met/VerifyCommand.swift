import ArgumentParser
import Foundation
import L2metCore
import L2metCrypto

/// `l2met verify`: decrypts a drain token with the keys in `SECRETS` and prints its plaintext.
struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decrypt a drain token with the keys in SECRETS.",
        discussion: "On failure it exits with status 1 and prints one line on stderr saying why.")

    @Option(help: "Refuse tokens older than this many seconds.") var ttl: Int64?
    @Option(help: "Use this time instead of the clock: RFC 3339 (2026-01-02T03:04:05Z) or epoch seconds.")
    var now: String?
    @Argument(help: "The drain token (or a whole drain URL https://TOKEN@host/logs).") var token: String

    func run() throws {
        try printResult(DrainTokenTool.verify(secrets: ProcessInfo.processInfo.environment["SECRETS"],
                                              token: token, ttl: ttl, now: now,
                                              clock: WallClock.seconds()))
    }
}
