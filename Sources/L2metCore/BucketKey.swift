/// Identifies one bucket: whose credentials, which metric, from which source, over which interval.
///
/// `token` is the drain's credential exactly as it arrived (the Fernet token, still encrypted; empty in
/// local mode), so neither memory nor the store ever holds a plaintext Librato token.
public struct BucketKey: Hashable, Sendable, CustomStringConvertible {
    public var token: String
    public var name: String
    public var source: String
    public var kind: MetricKind
    public var units: String
    /// Interval length in seconds (1...3600).
    public var resolution: Int32
    /// Interval start, epoch seconds, a multiple of `resolution`.
    public var time: Int64

    public init(token: String, name: String, source: String, kind: MetricKind, units: String,
                resolution: Int32, time: Int64) {
        self.token = token
        self.name = name
        self.source = source
        self.kind = kind
        self.units = units
        self.resolution = resolution
        self.time = time
    }

    /// Interval end (exclusive), epoch seconds.
    public var end: Int64 { time + Int64(resolution) }

    /// The first moment no line can enter this bucket any more under the deadline rule:
    /// a line is accepted while `now < time + deadline * resolution`.
    public func closesAt(deadline: Int) -> Int64 { time + Int64(deadline) * Int64(resolution) }

    /// A single-string form, used as the store key. Fields are separated by `|`, which sanitised
    /// names and sources, units (letters) and base64url tokens never contain.
    public var storeKey: String {
        "\(token)|\(resolution)|\(time)|\(Character(Unicode.Scalar(kind.code)))|\(name)|\(source)|\(units)"
    }

    /// Parses `storeKey` back; nil when the string is not one.
    public init?(storeKey: String) {
        let parts = storeKey.split(separator: "|", omittingEmptySubsequences: false)
        guard parts.count == 7,
              let resolution = Int32(parts[1]), let time = Int64(parts[2]),
              parts[3].utf8.count == 1, let kind = MetricKind(code: parts[3].utf8.first!)
        else { return nil }
        self.init(token: String(parts[0]), name: String(parts[4]), source: String(parts[5]), kind: kind,
                  units: String(parts[6]), resolution: resolution, time: time)
    }

    public var description: String {
        "name=\(name) source=\(source) kind=\(kind) units=\(units) resolution=\(resolution) time=\(time)"
    }
}
