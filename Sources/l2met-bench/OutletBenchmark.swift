/// Not built yet.
enum OutletBenchmark {
    static func run(_ args: [String]) { print("Outlet benchmark: not built yet") }
}
