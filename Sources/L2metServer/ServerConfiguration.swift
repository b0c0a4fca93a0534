import L2metOutlet
import L2metHTTP

/// Everything `l2met serve` can be told, with the defaults operators get when they say nothing.
public struct ServerConfiguration: Sendable {
    /// Which halves run in this process.
    public var runReceiver = true
    public var runOutlet = true

    /// Address and port the receiver listens on.
    public var bind = "127.0.0.1"
    public var port = 8080
    /// `redis://…`; nil means the in-memory store (one process, nothing shared).
    public var redisURL: String?
    /// Default Librato endpoint for `user:token` drains.
    public var libratoURL = "https://metrics-api.librato.com/v1/metrics"
    /// Colon-separated Fernet keys; nil means local mode.
    public var secrets: String?

    /// How often the receiver moves its in-memory buckets to the store (seconds).
    public var flushInterval = 1.0
    /// The receiver also flushes as soon as its registers hold this many bytes, which keeps its
    /// memory small under heavy load.
    public var flushBytes = 2 * 1024 * 1024
    /// A line whose bucket is older than `deadline` resolutions is dropped.
    public var deadline = 2
    /// Past this many bytes of buckets held in memory (store slow or down), drains get 503.
    public var memoryLimitBytes = 256 * 1024 * 1024
    /// Seconds the receiver may fail to write its buckets to the store (down, out of memory) before
    /// drains and `/health` get 503, so drains keep their data instead of this process.
    public var flushFailureLimit = 30.0
    /// Due-index partitions in the store.
    public var partitions = 1
    /// Seconds a drain body's `Logplex-Frame-Id` is remembered, so a body logplex sends again is
    /// counted once (across receivers sharing Redis); 0 turns the check off.
    public var frameIDWindow = 300

    /// HTTP limits and concurrency.
    public var http = HTTPServerConfiguration()

    /// Distinct series (name × source × kind × units) one drain may have per interval; past it new
    /// series are dropped and counted (and reported in the drain's own metrics). 0: no limit.
    public var maxSeriesPerDrain = 20_000

    /// Values (measurements, counters, samples) one drain may have taken per second, with a burst of
    /// a minute's worth; past it values are dropped and counted (and reported in the drain's own
    /// metrics). 0: no limit.
    public var maxValuesPerSecondPerDrain = 50_000

    /// The outlet's threads, queue, retries, breakers, lease and retention (its Librato URL and
    /// user agent are set from `libratoURL` and the build when the server starts).
    public var outlet = OutletConfiguration()

    /// How long SIGTERM may take before the process exits anyway (seconds).
    public var shutdownGrace = 8.0

    public init() {}

    /// True when no `SECRETS` are set: unauthenticated drains, metrics printed on stdout.
    public var isLocalMode: Bool { secrets == nil || secrets!.isEmpty }

    /// True when `url` is `http://` or `https://` with a host. Anything else given as `--librato-url`
    /// would be left to libcurl's guesses: no scheme means plain http (credentials in clear), other
    /// schemes are not HTTP at all.
    public static func isHTTPURL(_ url: String) -> Bool {
        let lower = url.lowercased()
        guard let sep = lower.firstRange(of: "://"), ["http", "https"].contains(lower[..<sep.lowerBound]) else { return false }
        var authority = url[sep.upperBound...].prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        return !authority.isEmpty && !authority.hasPrefix(":") && !authority.contains(where: \.isWhitespace)
    }
}

/// A setting `Server` cannot run with. The message never holds a secret.
public struct ServerConfigurationError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
