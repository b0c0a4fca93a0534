import ArgumentParser

/// `l2met verify`: decrypts drain tokens.
struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Decrypt a drain token with the keys in SECRETS.")
    func run() throws { throw NotBuiltYet(what: "l2met verify") }
}
