import ArgumentParser
import L2metServer

/// The `l2met` command: `serve`, `sign`, `verify`.
@main
struct L2met: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "l2met",
        abstract: "A log-drain metrics server: logs in, Librato gauges out.",
        version: L2metBuild.version,
        subcommands: [Serve.self, Sign.self, Verify.self])
}
