import ArgumentParser

/// The `l2met` command: `serve`, `sign`, `verify`.
@main
struct L2met: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "l2met",
        abstract: "A log-drain metrics server: logs in, Librato gauges out.",
        version: L2metVersion.string,
        subcommands: [Serve.self, Sign.self, Verify.self])
}

/// The version reported by `--version` and in the outlet's User-Agent.
enum L2metVersion {
    static let string = "0.1.0"
}

struct NotBuiltYet: Error, CustomStringConvertible {
    let what: String
    var description: String { "\(what) is not built yet" }
}

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the receiver and the outlet.")
    func run() throws { throw NotBuiltYet(what: "l2met serve") }
}

struct Sign: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the drain token (or URL) for Librato credentials.")
    func run() throws { throw NotBuiltYet(what: "l2met sign") }
}

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Decrypt a drain token with the keys in SECRETS.")
    func run() throws { throw NotBuiltYet(what: "l2met verify") }
}
