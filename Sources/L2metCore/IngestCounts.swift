/// What one `Register.ingest` call read and took, and what it dropped and why.
public struct IngestCounts: Sendable, Equatable {
    /// Frames read (octet-counted messages).
    public var frames: Int = 0
    /// Stretches of the body that were not a frame and were skipped (each resynchronisation counts once).
    public var brokenFrames: Int = 0
    /// Lines whose RFC5424 header was read.
    public var lines: Int = 0
    /// Measurements, counters and samples taken into buckets.
    public var measurements: Int = 0

    var late = 0
    var badValue = 0
    var emptyName = 0
    var badHeader = 0
    var tooLong = 0
    var seriesLimit = 0
    var rateLimit = 0
    var storeLimit = 0

    public init() {}

    /// How many pairs (or lines, for `badHeader`) were dropped for `reason`.
    public func count(of reason: DropReason) -> Int {
        switch reason {
        case .late: return late
        case .badValue: return badValue
        case .emptyName: return emptyName
        case .badHeader: return badHeader
        case .tooLong: return tooLong
        case .seriesLimit: return seriesLimit
        case .rateLimit: return rateLimit
        case .storeLimit: return storeLimit
        }
    }

    /// Total dropped, all reasons.
    public var dropped: Int { late + badValue + emptyName + badHeader + tooLong + seriesLimit + rateLimit + storeLimit }

    @inline(__always)
    mutating func drop(_ reason: DropReason, _ n: Int = 1) {
        switch reason {
        case .late: late += n
        case .badValue: badValue += n
        case .emptyName: emptyName += n
        case .badHeader: badHeader += n
        case .tooLong: tooLong += n
        case .seriesLimit: seriesLimit += n
        case .rateLimit: rateLimit += n
        case .storeLimit: storeLimit += n
        }
    }
}
