// Benchmarks: filled in by the core issue.
print("l2met-bench: not built yet")
