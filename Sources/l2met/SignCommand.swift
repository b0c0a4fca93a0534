import ArgumentParser

/// `l2met sign`: makes drain tokens.
struct Sign: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the drain token (or URL) for Librato credentials.")
    func run() throws { throw NotBuiltYet(what: "l2met sign") }
}
