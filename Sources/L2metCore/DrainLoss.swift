/// What a log-shuttle drain reports about its own losses on a POST: the `Logplex-Drop-Count` and
/// `Logplex-Lost-Count` headers, lines it dropped or lost since its previous successful POST. The
/// register counts them for the drain's owner as the counters `logshuttle.dropped` and
/// `logshuttle.lost` (`Register.add(_:options:nowMicros:)`).
///
/// Invariant: both counts are 0 or more; a header that is absent or not a whole number is 0.
public struct DrainLoss: Sendable, Equatable {
    public var dropped: Int64
    public var lost: Int64

    public init(dropped: Int64 = 0, lost: Int64 = 0) {
        self.dropped = max(0, dropped)
        self.lost = max(0, lost)
    }

    /// From the raw header values; a value that is not 1 to 15 ASCII digits counts as 0 (ignored,
    /// never an error: the body is what the drain sent us).
    public init(dropCount: String?, lostCount: String?) {
        self.init(dropped: Self.count(dropCount), lost: Self.count(lostCount))
    }

    /// True when there is nothing to count.
    public var isEmpty: Bool { dropped == 0 && lost == 0 }

    nonisolated(unsafe) static let droppedName = Conventions.constant("logshuttle.dropped")
    nonisolated(unsafe) static let lostName = Conventions.constant("logshuttle.lost")

    private static func count(_ raw: String?) -> Int64 {
        guard let raw else { return 0 }
        var value: Int64 = 0
        var digits = 0
        for b in raw.utf8 {
            guard b &- 0x30 <= 9, digits < 15 else { return 0 }
            value = value * 10 + Int64(b &- 0x30)
            digits += 1
        }
        return value
    }
}
