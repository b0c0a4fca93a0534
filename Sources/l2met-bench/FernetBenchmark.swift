/// Not built yet.
enum FernetBenchmark {
    static func run(_ args: [String]) { print("Fernet benchmark: not built yet") }
}
