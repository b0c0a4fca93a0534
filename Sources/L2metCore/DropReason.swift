/// Why a pair or a line was not taken into a bucket. The description (snake_case) is the
/// `reason` label of `l2met_dropped_total`.
public enum DropReason: String, CaseIterable, Hashable, Sendable, CustomStringConvertible {
    /// The measurement's bucket is already closed under the deadline rule.
    case late = "late"
    /// A value that is not `[sign]digits[.digits][e[sign]digits][UNITS]`, not finite, or beyond ±1e100
    /// (whose sum or sum of squares could overflow to infinity, which no destination takes).
    case badValue = "bad_value"
    /// A name (with the drain's prefix; 248 characters for a measurement, whose `.median` … gauges must
    /// fit) or a source (with its prefix) longer than 255 characters: cut, two would merge into one series.
    case tooLong = "too_long"
    /// A new series of a drain past its limit of distinct series per interval (`SeriesLimiter`); the
    /// drain's own metrics get the counter `l2met.dropped`, source `series_limit`.
    case seriesLimit = "series_limit"
    /// A value of a drain that has used its values per second (`DrainRateLimiter`); reported in its
    /// own metrics as `l2met.dropped`, source `rate_limit`.
    case rateLimit = "rate_limit"
    /// A value of a drain that holds more than its share of the store (its destination has not taken
    /// its buckets for a long time); reported in its own metrics as `l2met.dropped`, source `store_limit`.
    case storeLimit = "store_limit"
    /// A marker (`measure#`, `count#`, `sample#`, `measure.`) with nothing after it.
    case emptyName = "empty_name"
    /// A frame whose message is not an RFC5424 header (the whole line is dropped).
    case badHeader = "bad_header"

    public var description: String { rawValue }

    /// The reasons that are a drain's own limits: each is reported in that drain's metrics as the
    /// counter `l2met.dropped` with the reason as source.
    public static let drainLimits: [DropReason] = [.seriesLimit, .rateLimit, .storeLimit]
}
