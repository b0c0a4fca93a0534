import ArgumentParser
import Foundation
import L2metCore
import L2metCrypto

/// `l2met sign`: makes drain tokens (or whole drain URLs) with the first key in `SECRETS`.
struct Sign: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the drain token (or URL) for Librato credentials.",
        discussion: """
            The token is the Fernet token of USER:TOKEN made with the first key in SECRETS. With \
            --base-url https://host it prints the whole drain URL https://TOKEN@host/logs. \
            --destination URL encrypts a destination URL (librato+https://…, otlp+https://…) instead.
            """)

    @Option(help: "Librato user (usually an email address).") var libratoUser: String?
    @Option(help: "Librato API token.") var libratoToken: String?
    @Option(help: "A destination URL to encrypt instead of --librato-user/--librato-token.") var destination: String?
    @Option(help: "The l2met server's URL: print the whole drain URL (scheme and host kept, /logs appended).")
    var baseURL: String?

    func run() throws {
        let result = DrainTokenTool.sign(secrets: ProcessInfo.processInfo.environment["SECRETS"],
                                         libratoUser: libratoUser, libratoToken: libratoToken,
                                         destination: destination, baseURL: baseURL,
                                         now: WallClock.seconds())
        try printResult(result)
    }
}

/// Prints a tool's result: the output on stdout, or its one error line on stderr and exit status 1.
func printResult(_ result: Result<String, DrainTokenTool.Failure>) throws {
    switch result {
    case .success(let output):
        print(output)
    case .failure(let failure):
        FileHandle.standardError.write(Data((failure.description + "\n").utf8))
        throw ExitCode(1)
    }
}
