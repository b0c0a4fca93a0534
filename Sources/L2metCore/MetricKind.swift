/// The three kinds of metric the log conventions name: `measure#`, `count#` and `sample#`.
public enum MetricKind: UInt8, Sendable, CaseIterable, Hashable {
    /// `measure#NAME=V`: values are kept (exactly up to `BucketData.exactLimit`, then as a sketch); the outlet
    /// reports count, sum, min, max, sum of squares and percentiles.
    case measurement = 0
    /// `count#NAME=V`: values are summed.
    case counter = 1
    /// `sample#NAME=V`: the last value (by timestamp) wins.
    case sample = 2

    /// One-letter code used in store keys and encoded bucket data.
    public var code: UInt8 {
        switch self {
        case .measurement: return UInt8(ascii: "m")
        case .counter: return UInt8(ascii: "c")
        case .sample: return UInt8(ascii: "s")
        }
    }

    public init?(code: UInt8) {
        switch code {
        case UInt8(ascii: "m"): self = .measurement
        case UInt8(ascii: "c"): self = .counter
        case UInt8(ascii: "s"): self = .sample
        default: return nil
        }
    }
}
