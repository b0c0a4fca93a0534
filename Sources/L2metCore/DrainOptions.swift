/// Per-request settings of a drain: whose credentials, which resolution, and the name and source
/// prefixes taken from the `/logs` query.
public struct DrainOptions: Sendable, Equatable {
    /// The drain token as it arrived (encrypted), "" in local mode.
    public var token: String
    /// Bucket length in seconds, 1...3600.
    public var resolution: Int32 = 60
    /// Names become `PREFIX.NAME`.
    public var prefix: String?
    /// Sources become `SP.SOURCE` (`SP` alone when the line has none).
    public var sourcePrefix: String?

    public init(token: String, resolution: Int32 = 60, prefix: String? = nil, sourcePrefix: String? = nil) {
        self.token = token
        self.resolution = resolution
        self.prefix = prefix
        self.sourcePrefix = sourcePrefix
    }
}
