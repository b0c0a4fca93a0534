import ArgumentParser

/// `l2met serve`: the receiver and the outlet.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the receiver and the outlet.")
    func run() throws { throw NotBuiltYet(what: "l2met serve") }
}
