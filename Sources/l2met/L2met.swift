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
