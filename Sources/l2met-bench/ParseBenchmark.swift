/// Not built yet.
enum ParseBenchmark {
    static func run(_ args: [String]) { print("Parse benchmark: not built yet") }
}
