import ArgumentParser
import Foundation
import L2metObservability
import L2metServer
import Logging

/// `l2met serve`: the receiver and the outlet (both unless `--receiver` or `--outlet` narrows it).
///
/// Every flag can also come from an environment variable (`SettingSource`: `--flush-interval` is
/// `L2MET_FLUSH_INTERVAL`; `--port`, `--redis-url` and `--librato-url` are Heroku's `PORT`,
/// `REDIS_URL` and `LIBRATO_URL`). A flag wins over its variable. Defaults live in
/// `ServerConfiguration` only; the help quotes them from there.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the receiver and the outlet.",
        discussion: """
            With no SECRETS, l2met runs in local mode: drains need no credentials, metrics are printed on \
            stdout as logfmt lines, and it listens on 127.0.0.1 unless --bind says otherwise. Every flag \
            can be set by an environment variable instead: L2MET_ and the flag's name in capitals with \
            underscores (--flush-interval: L2MET_FLUSH_INTERVAL); --port, --redis-url and --librato-url \
            read PORT, REDIS_URL and LIBRATO_URL. A flag wins over its variable.
            """)

    /// The defaults quoted in the help.
    private static let d = ServerConfiguration()

    @Option(help: "Port to listen on (env PORT; default \(d.port)).") var port: Int?
    @Option(help: "Address to listen on (default: 0.0.0.0 with SECRETS, 127.0.0.1 without).") var bind: String?
    @Option(help: "Redis URL (env REDIS_URL; none means the in-memory store).") var redisURL: String?
    @Option(help: "Librato API URL (env LIBRATO_URL; default \(d.libratoURL)).") var libratoURL: String?
    @Flag(help: "Run only the receiver.") var receiver = false
    @Flag(help: "Run only the outlet.") var outlet = false

    @Option(help: "Seconds between flushes of the receiver's buckets to the store (default \(d.flushInterval)).")
    var flushInterval: Double?
    @Option(help: "Bytes held by the receiver's buckets that trigger a flush before the interval ends (default \(d.flushBytes)).")
    var flushBytes: Int?
    @Option(help: """
        Resolutions after which a bucket takes no more lines (default: 2; 1 in local mode, so metrics \
        are printed as soon as their interval closes).
        """)
    var deadline: Int?
    @Option(help: "Bytes of buckets held in memory before drains get 503 (default \(d.memoryLimitBytes)).") var memoryLimit: Int?
    @Option(help: """
        Seconds the receiver may fail to write its buckets to the store (Redis down, out of memory) \
        before drains and /health get 503 (default \(d.flushFailureLimit)).
        """)
    var flushFailureLimit: Double?
    @Option(help: "Partitions of the store's due index (default \(d.partitions)).") var partitions: Int?
    @Option(help: """
        Distinct series (name × source) one drain may have per interval; past it new series are dropped, \
        counted, and reported in the drain's own metrics as l2met.dropped, source series_limit. 0: no limit \
        (default \(d.maxSeriesPerDrain)).
        """)
    var maxSeriesPerDrain: Int?
    @Option(help: """
        Values (measurements, counters, samples) one drain may have taken per second, with a burst of a \
        minute's worth; past it values are dropped, counted, and reported in the drain's own metrics as \
        l2met.dropped, source rate_limit. 0: no limit (default \(d.maxValuesPerSecondPerDrain)).
        """)
    var maxValuesPerSecondPerDrain: Int?
    @Option(help: """
        Bytes of undelivered buckets one drain may hold in the store (its destination failing for hours); \
        past it its values are dropped, counted, and reported in its own metrics as l2met.dropped, source \
        store_limit, until its destination takes its buckets again. 0: no limit (default \(d.maxStoreBytesPerDrain)).
        """)
    var maxStoreBytesPerDrain: Int?
    @Option(help: """
        Seconds a drain body's Logplex-Frame-Id is remembered: a body logplex sends again within it is \
        answered 200 and not counted again (across receivers sharing Redis). 0 turns the check off \
        (default \(d.frameIDWindow)).
        """)
    var frameIDWindow: Int?
    @Option(help: "HTTP worker threads (default: number of cores).") var workers: Int?
    @Option(help: "Largest request body in bytes, after gzip decoding (default \(d.http.maxBodyBytes)).") var bodyLimit: Int?
    @Option(help: "Largest request head in bytes (default \(d.http.maxHeaderBytes)).") var headerLimit: Int?
    @Option(help: "Seconds a whole request may take to arrive (default \(d.http.requestTimeout)).") var requestTimeout: Double?
    @Option(help: "Seconds an idle keep-alive connection is kept (default \(d.http.idleTimeout)).") var idleTimeout: Double?
    @Option(help: """
        Most simultaneous connections (idle ones are closed, oldest first, to make room) (default \(d.http.maxConnections)).
        """)
    var maxConnections: Int?
    @OptionGroup var connectionOptions: ConnectionOptions
    @Option(help: """
        Bytes of request bodies held in memory at once, all connections together, before drains get 503 \
        (default \(d.http.maxBufferedBodyBytes)).
        """)
    var bodyMemoryLimit: Int?
    @Option(help: "Outlet sender threads (requests in flight at once, all destinations together; default \(d.outlet.workers)).")
    var outletWorkers: Int?
    @Option(help: "Requests to one destination in flight at once (one while it is failing; default \(d.outlet.perDestinationConcurrency)).")
    var outletPerDestination: Int?
    @Option(help: "Seconds between outlet polls of the store (default \(d.outlet.pollInterval)).") var outletInterval: Double?
    @Option(help: "Seconds to connect to a destination (default \(d.outlet.connectTimeout)).") var outletConnectTimeout: Double?
    @Option(help: "Seconds for a whole request to a destination (default \(d.outlet.requestTimeout)).") var outletTimeout: Double?
    @Option(help: """
        Seconds after its interval ends that a bucket is kept for delivery while its destination fails \
        transiently (connection errors, time-outs, 408, 429, 5xx); then it is dropped and counted. 60 to 604800 \
        (default \(d.outlet.retention)).
        """)
    var retention: Int64?
    @Option(help: """
        Largest wait in seconds between attempts for one bucket (exponential back-off with jitter; default \
        \(d.outlet.backoffCap)).
        """)
    var outletBackoffCap: Double?
    @Option(help: """
        Seconds an outlet's claim on buckets lasts; an outlet that crashed leaves its buckets to the others \
        once it ends (default: 4 times --outlet-timeout plus 30 s, \(d.outlet.effectiveLease) with the defaults). \
        More than --outlet-timeout, \(ServerConfiguration.minOutletLease) to \(ServerConfiguration.maxOutletLease).
        """)
    var outletLease: Int64?
    @Option(help: "Seconds SIGTERM may take before exiting (default \(d.shutdownGrace)).") var shutdownGrace: Double?
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (default info).") var logLevel: String?

    func validate() throws {
        if receiver && outlet { throw ValidationError("--receiver and --outlet together are the default; give neither") }
    }

    /// The configuration from the flags, then their environment variables, then the defaults; throws
    /// (naming the flag or the variable) when a value cannot be read or cannot work.
    func configuration(environment env: [String: String]) throws -> ServerConfiguration {
        let from = SettingSource(environment: env)
        var c = ServerConfiguration()
        c.secrets = env["SECRETS"].flatMap { $0.isEmpty ? nil : $0 }
        c.runReceiver = !(try from.flag(outlet, "outlet"))
        c.runOutlet = !(try from.flag(receiver, "receiver"))
        if !c.runReceiver && !c.runOutlet { throw ValidationError("--receiver and --outlet together are the default; give neither") }
        try from.set(&c.port, port, "port", variable: "PORT")
        try from.set(&c.bind, bind, "bind")
        try from.set(&c.redisURL, redisURL, "redis-url", variable: "REDIS_URL")
        try from.set(&c.libratoURL, libratoURL, "librato-url", variable: "LIBRATO_URL")
        try from.set(&c.flushInterval, flushInterval, "flush-interval")
        try from.set(&c.flushBytes, flushBytes, "flush-bytes")
        try from.set(&c.deadline, deadline, "deadline")
        try from.set(&c.memoryLimitBytes, memoryLimit, "memory-limit")
        try from.set(&c.flushFailureLimit, flushFailureLimit, "flush-failure-limit")
        try from.set(&c.partitions, partitions, "partitions")
        try from.set(&c.maxSeriesPerDrain, maxSeriesPerDrain, "max-series-per-drain")
        try from.set(&c.maxValuesPerSecondPerDrain, maxValuesPerSecondPerDrain, "max-values-per-second-per-drain")
        try from.set(&c.maxStoreBytesPerDrain, maxStoreBytesPerDrain, "max-store-bytes-per-drain")
        try from.set(&c.frameIDWindow, frameIDWindow, "frame-id-window")
        try from.set(&c.http.workers, workers, "workers")
        try from.set(&c.http.maxBodyBytes, bodyLimit, "body-limit")
        try from.set(&c.http.maxHeaderBytes, headerLimit, "header-limit")
        try from.set(&c.http.requestTimeout, requestTimeout, "request-timeout")
        try from.set(&c.http.idleTimeout, idleTimeout, "idle-timeout")
        try from.set(&c.http.maxConnections, maxConnections, "max-connections")
        try connectionOptions.apply(to: &c, from: from)
        try from.set(&c.http.maxBufferedBodyBytes, bodyMemoryLimit, "body-memory-limit")
        try from.set(&c.outlet.workers, outletWorkers, "outlet-workers")
        try from.set(&c.outlet.perDestinationConcurrency, outletPerDestination, "outlet-per-destination")
        try from.set(&c.outlet.pollInterval, outletInterval, "outlet-interval")
        try from.set(&c.outlet.connectTimeout, outletConnectTimeout, "outlet-connect-timeout")
        try from.set(&c.outlet.requestTimeout, outletTimeout, "outlet-timeout")
        try from.set(&c.outlet.retention, retention, "retention")
        try from.set(&c.outlet.backoffCap, outletBackoffCap, "outlet-backoff-cap")
        try from.set(&c.outlet.lease, outletLease, "outlet-lease")
        try from.set(&c.shutdownGrace, shutdownGrace, "shutdown-grace")
        do {
            try c.validate()
        } catch let error as ServerConfigurationError {
            throw ValidationError(error.description)
        }
        return c
    }

    func run() throws {
        let env = ProcessInfo.processInfo.environment
        let level = try SettingSource(environment: env).value(logLevel, "log-level") ?? "info"
        guard let logLevel = Logger.Level(rawValue: level) else { throw ValidationError("unknown --log-level \(level)") }
        let c = try configuration(environment: env)
        L2metLogging.bootstrap(level: logLevel)
        var logger = Logger(label: "l2met")
        logger[metadataKey: "component"] = "main"

        // Block SIGTERM and SIGINT before any thread starts, so every thread inherits the mask and
        // this one receives them with sigwait.
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGTERM)
        sigaddset(&signals, SIGINT)
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        signal(SIGPIPE, SIG_IGN)

        let server: Server
        do {
            server = try Server(configuration: c, logger: logger)
            try server.start()
        } catch {
            logger.critical("cannot start", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
        var received: Int32 = 0
        sigwait(&signals, &received)
        logger.info("signal received", metadata: ["signal": "\(received == SIGTERM ? "SIGTERM" : "SIGINT")"])
        let clean = server.stop()
        throw ExitCode(clean ? 0 : 1)
    }
}
