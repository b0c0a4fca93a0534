// l2met-bench: prints throughput figures. `l2met-bench [parse|fernet|store|outlet|all] [options]`.
// Each benchmark lives in its own file; run in release mode (`swift run -c release l2met-bench`).
let args = Array(CommandLine.arguments.dropFirst())
let which = args.first ?? "parse"
let rest = Array(args.dropFirst())
switch which {
case "parse": ParseBenchmark.run(rest)
case "fernet": FernetBenchmark.run(rest)
case "store": StoreBenchmark.run(rest)
case "outlet": OutletBenchmark.run(rest)
case "all":
    ParseBenchmark.run(rest)
    FernetBenchmark.run(rest)
    StoreBenchmark.run(rest)
    OutletBenchmark.run(rest)
default:
    print("usage: l2met-bench [parse|fernet|store|outlet|all]")
}
