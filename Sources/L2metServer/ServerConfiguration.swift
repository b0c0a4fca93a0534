import L2metOutlet
import L2metHTTP

/// Everything `l2met serve` can be told, with the defaults operators get when they say nothing.
public struct ServerConfiguration: Sendable {
    /// Which halves run in this process.
    public var runReceiver = true
    public var runOutlet = true

    /// Address and port the receiver listens on; bind nil: 127.0.0.1 in local mode, else 0.0.0.0.
    public var bind: String?
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
    /// A line whose bucket is older than `deadline` resolutions is dropped; nil: 2, or 1 in local mode
    /// (people watching their screen see an interval when it closes; a local drain has no delay).
    public var deadline: Int?
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

    /// Bytes of undelivered buckets one drain may hold in the store (its destination failing for
    /// hours); past it its values are dropped and counted (and reported in its own metrics) until
    /// its destination takes its buckets again. 0: no limit.
    public var maxStoreBytesPerDrain = 512 << 20

    /// The outlet's threads, queue, retries, breakers, lease and retention (its Librato URL and
    /// user agent are set from `libratoURL` and the build when the server starts).
    public var outlet = OutletConfiguration()

    /// How long SIGTERM may take before the process exits anyway (seconds).
    public var shutdownGrace = 8.0

    public init() {}

    /// The deadline in use: `deadline`, else its default for the mode.
    public var effectiveDeadline: Int { deadline ?? (isLocalMode ? 1 : 2) }

    /// The address in use: `bind`, else its default for the mode.
    public var effectiveBind: String { bind ?? (isLocalMode ? "127.0.0.1" : "0.0.0.0") }

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

extension ServerConfiguration {
    /// Claims longer than a day would outlive the buckets' data in Redis (kept a day past due).
    public static let maxOutletLease: Int64 = 86_400
    /// Lease ends are whole seconds and a worker keeps a margin for its acknowledgement: shorter
    /// claims could leave no room for any attempt.
    public static let minOutletLease: Int64 = 5

    /// Throws the first setting that cannot work, named by its `serve` flag.
    public func validate() throws {
        func fail(_ why: String) -> ServerConfigurationError { ServerConfigurationError(why) }
        if let deadline, deadline < 1 { throw fail("--deadline must be at least 1") }
        if !(0...65_535).contains(port) { throw fail("--port must be 0 to 65535") }
        if flushBytes < 1 { throw fail("--flush-bytes must be at least 1") }
        if !(flushInterval > 0) { throw fail("--flush-interval must be above 0") }
        if !(flushFailureLimit >= 0) { throw fail("--flush-failure-limit must be 0 or more") }
        if partitions < 1 { throw fail("--partitions must be at least 1") }
        if maxSeriesPerDrain < 0 { throw fail("--max-series-per-drain must be 0 (no limit) or more") }
        if maxValuesPerSecondPerDrain < 0 { throw fail("--max-values-per-second-per-drain must be 0 (no limit) or more") }
        if maxStoreBytesPerDrain < 0 { throw fail("--max-store-bytes-per-drain must be 0 (no limit) or more") }
        if !(0...86_400).contains(frameIDWindow) { throw fail("--frame-id-window must be 0 to 86400 seconds") }
        if http.workers < 1 { throw fail("--workers must be at least 1") }
        if outlet.workers < 1 { throw fail("--outlet-workers must be at least 1") }
        if outlet.perDestinationConcurrency < 1 { throw fail("--outlet-per-destination must be at least 1") }
        if !(60...604_800).contains(outlet.retention) { throw fail("--retention must be 60 to 604800 seconds") }
        for (name, value) in [("--memory-limit", memoryLimitBytes), ("--body-limit", http.maxBodyBytes),
                              ("--header-limit", http.maxHeaderBytes), ("--max-connections", http.maxConnections),
                              ("--body-memory-limit", http.maxBufferedBodyBytes)] where value < 1 {
            throw fail("\(name) must be at least 1")
        }
        if http.maxConnectionsPerPeer < 0 { throw fail("--max-connections-per-peer must be 0 or more") }
        for (name, value) in [("--request-timeout", http.requestTimeout), ("--idle-timeout", http.idleTimeout),
                              ("--header-timeout", http.headerTimeout),
                              ("--outlet-interval", outlet.pollInterval), ("--outlet-connect-timeout", outlet.connectTimeout),
                              ("--outlet-timeout", outlet.requestTimeout), ("--outlet-backoff-cap", outlet.backoffCap)]
            where !(value > 0) {
            throw fail("\(name) must be above 0")
        }
        if let lease = outlet.lease {
            // A claim must outlast one whole request, with room to acknowledge after it: the outlet
            // never starts an attempt that could end past its lease.
            if Double(lease) <= outlet.requestTimeout {
                throw fail("--outlet-lease (\(lease) s) must be more than --outlet-timeout (\(outlet.requestTimeout) s)")
            }
            if lease < Self.minOutletLease { throw fail("--outlet-lease must be at least \(Self.minOutletLease) s") }
            if lease > Self.maxOutletLease { throw fail("--outlet-lease must be at most \(Self.maxOutletLease) s (a day)") }
        }
        if !(shutdownGrace >= 0) { throw fail("--shutdown-grace must be 0 or more") }
    }
}

/// A setting `Server` cannot run with. The message never holds a secret.
public struct ServerConfigurationError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
