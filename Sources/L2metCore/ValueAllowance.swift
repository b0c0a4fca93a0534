/// How many values (measurements, counters, samples) one body of a drain may have taken, and the
/// reason the rest are dropped for. Invariant: `values >= 0`.
public struct ValueAllowance: Sendable, Equatable {
    public var values: Int
    public var refusal: DropReason

    public init(values: Int, refusal: DropReason) {
        self.values = max(0, values)
        self.refusal = refusal
    }

    public static let unlimited = ValueAllowance(values: .max, refusal: .rateLimit)
}
