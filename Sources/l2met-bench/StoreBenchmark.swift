/// Not built yet.
enum StoreBenchmark {
    static func run(_ args: [String]) { print("Store benchmark: not built yet") }
}
