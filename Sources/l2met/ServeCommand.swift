import ArgumentParser
import Foundation
import L2metObservability
import L2metServer
import Logging

/// `l2met serve`: the receiver and the outlet (both unless `--receiver` or `--outlet` narrows it).
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the receiver and the outlet.",
        discussion: """
            With no SECRETS, l2met runs in local mode: drains need no credentials, metrics are printed on \
            stdout as logfmt lines, and it listens on 127.0.0.1 unless --bind says otherwise.
            """)

    @Option(help: "Port to listen on (default: $PORT, else 8080).") var port: Int?
    @Option(help: "Address to listen on (default: 0.0.0.0 with SECRETS, 127.0.0.1 without).") var bind: String?
    @Option(help: "Redis URL (default: $REDIS_URL; none means the in-memory store).") var redisURL: String?
    @Option(help: "Librato API URL (default: $LIBRATO_URL, else https://metrics-api.librato.com/v1/metrics).")
    var libratoURL: String?
    @Flag(help: "Run only the receiver.") var receiver = false
    @Flag(help: "Run only the outlet.") var outlet = false

    @Option(help: "Seconds between flushes of the receiver's buckets to the store.") var flushInterval = 1.0
    @Option(help: "Bytes held by the receiver's buckets that trigger a flush before the interval ends.")
    var flushBytes = 2 * 1024 * 1024
    @Option(help: """
        Resolutions after which a bucket takes no more lines (default: 2; 1 in local mode, so metrics \
        are printed as soon as their interval closes).
        """)
    var deadline: Int?
    @Option(help: "Bytes of buckets held in memory before drains get 503.") var memoryLimit = 256 * 1024 * 1024
    @Option(help: """
        Seconds the receiver may fail to write its buckets to the store (Redis down, out of memory) \
        before drains and /health get 503.
        """)
    var flushFailureLimit = 30.0
    @Option(help: "Partitions of the store's due index.") var partitions = 1
    @Option(help: """
        Distinct series (name × source) one drain may have per interval; past it new series are dropped, \
        counted, and reported in the drain's own metrics as l2met.dropped, source series_limit. 0: no limit.
        """)
    var maxSeriesPerDrain = 20_000
    @Option(help: """
        Values (measurements, counters, samples) one drain may have taken per second, with a burst of a \
        minute's worth; past it values are dropped, counted, and reported in the drain's own metrics as \
        l2met.dropped, source rate_limit. 0: no limit.
        """)
    var maxValuesPerSecondPerDrain = 50_000
    @Option(help: """
        Seconds a drain body's Logplex-Frame-Id is remembered: a body logplex sends again within it is \
        answered 200 and not counted again (across receivers sharing Redis). 0 turns the check off.
        """)
    var frameIDWindow = 300
    @Option(help: "HTTP worker threads (default: number of cores).") var workers: Int?
    @Option(help: "Largest request body in bytes, after gzip decoding.") var bodyLimit = 10 * 1024 * 1024
    @Option(help: "Largest request head in bytes.") var headerLimit = 16 * 1024
    @Option(help: "Seconds a whole request may take to arrive.") var requestTimeout = 30.0
    @Option(help: "Seconds an idle keep-alive connection is kept.") var idleTimeout = 15.0
    @Option(help: "Most simultaneous connections (idle ones are closed, oldest first, to make room).") var maxConnections = 10_000
    @OptionGroup var connectionOptions: ConnectionOptions
    @Option(help: "Bytes of request bodies held in memory at once, all connections together, before drains get 503.")
    var bodyMemoryLimit = 256 * 1024 * 1024
    @Option(help: "Outlet sender threads (requests in flight at once, all destinations together).") var outletWorkers = 16
    @Option(help: "Requests to one destination in flight at once (one while it is failing).") var outletPerDestination = 2
    @Option(help: "Seconds between outlet polls of the store.") var outletInterval = 0.5
    @Option(help: "Seconds to connect to a destination.") var outletConnectTimeout = 5.0
    @Option(help: "Seconds for a whole request to a destination.") var outletTimeout = 30.0
    @Option(help: """
        Seconds after its interval ends that a bucket is kept for delivery while its destination fails \
        transiently (connection errors, time-outs, 408, 429, 5xx); then it is dropped and counted. 60 to 604800.
        """)
    var retention = 86_400
    @Option(help: "Largest wait in seconds between attempts for one bucket (exponential back-off with jitter).")
    var outletBackoffCap = 120.0
    @Option(help: """
        Seconds an outlet's claim on buckets lasts; an outlet that crashed leaves its buckets to the others \
        once it ends (default: 4 times --outlet-timeout plus 30 s, 150 with the defaults). More than \
        --outlet-timeout, 5 to 86400.
        """)
    var outletLease: Int?
    @Option(help: "Seconds SIGTERM may take before exiting.") var shutdownGrace = 8.0
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel = "info"

    func validate() throws {
        if receiver && outlet { throw ValidationError("--receiver and --outlet together are the default; give neither") }
        if Logger.Level(rawValue: logLevel) == nil { throw ValidationError("unknown --log-level \(logLevel)") }
        if let deadline, deadline < 1 { throw ValidationError("--deadline must be at least 1") }
        if flushBytes < 1 { throw ValidationError("--flush-bytes must be at least 1") }
        if flushInterval <= 0 { throw ValidationError("--flush-interval must be above 0") }
        if !(flushFailureLimit >= 0) { throw ValidationError("--flush-failure-limit must be 0 or more") }
        if partitions < 1 { throw ValidationError("--partitions must be at least 1") }
        if maxSeriesPerDrain < 0 { throw ValidationError("--max-series-per-drain must be 0 (no limit) or more") }
        if maxValuesPerSecondPerDrain < 0 {
            throw ValidationError("--max-values-per-second-per-drain must be 0 (no limit) or more")
        }
        if !(0...86_400).contains(frameIDWindow) { throw ValidationError("--frame-id-window must be 0 to 86400 seconds") }
        if let workers, workers < 1 { throw ValidationError("--workers must be at least 1") }
        if outletWorkers < 1 { throw ValidationError("--outlet-workers must be at least 1") }
        if outletPerDestination < 1 { throw ValidationError("--outlet-per-destination must be at least 1") }
        if !(60...604_800).contains(retention) { throw ValidationError("--retention must be 60 to 604800 seconds") }
        for (name, value) in [("--memory-limit", memoryLimit), ("--body-limit", bodyLimit),
                              ("--header-limit", headerLimit), ("--max-connections", maxConnections),
                              ("--body-memory-limit", bodyMemoryLimit)] where value < 1 {
            throw ValidationError("\(name) must be at least 1")
        }
        for (name, value) in [("--request-timeout", requestTimeout), ("--idle-timeout", idleTimeout),
                              ("--outlet-interval", outletInterval), ("--outlet-connect-timeout", outletConnectTimeout),
                              ("--outlet-timeout", outletTimeout), ("--outlet-backoff-cap", outletBackoffCap)] where !(value > 0) {
            throw ValidationError("\(name) must be above 0")
        }
        if let outletLease {
            // A claim must outlast one whole request, with room to acknowledge after it: the outlet
            // never starts an attempt that could end past its lease.
            if Double(outletLease) <= outletTimeout {
                throw ValidationError("--outlet-lease (\(outletLease) s) must be more than --outlet-timeout (\(outletTimeout) s)")
            }
            if outletLease < Self.minOutletLease {
                // Lease ends are whole seconds and a worker keeps a margin for its acknowledgement:
                // shorter claims could leave no room for any attempt.
                throw ValidationError("--outlet-lease must be at least \(Self.minOutletLease) s")
            }
            if outletLease > Self.maxOutletLease {
                throw ValidationError("--outlet-lease must be at most \(Self.maxOutletLease) s (a day)")
            }
        }
        if !(shutdownGrace >= 0) { throw ValidationError("--shutdown-grace must be 0 or more") }
        // $PORT is only read when --port is not given; a value that is not a port is an error, not 8080.
        if port == nil, let raw = ProcessInfo.processInfo.environment["PORT"], !raw.isEmpty, Int(raw) == nil {
            throw ValidationError("PORT=\(raw) is not a port number")
        }
    }

    /// Claims longer than a day would outlive the buckets' data in Redis (kept a day past due).
    static let maxOutletLease = 86_400
    static let minOutletLease = 5

    func run() throws {
        let env = ProcessInfo.processInfo.environment
        L2metLogging.bootstrap(level: Logger.Level(rawValue: logLevel)!)
        var logger = Logger(label: "l2met")
        logger[metadataKey: "component"] = "main"

        var c = ServerConfiguration()
        c.secrets = env["SECRETS"].flatMap { $0.isEmpty ? nil : $0 }
        c.runReceiver = !outlet
        c.runOutlet = !receiver
        c.port = port ?? env["PORT"].flatMap(Int.init) ?? 8080
        c.bind = bind ?? (c.isLocalMode ? "127.0.0.1" : "0.0.0.0")
        c.redisURL = redisURL ?? env["REDIS_URL"].flatMap { $0.isEmpty ? nil : $0 }
        c.libratoURL = libratoURL ?? env["LIBRATO_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? c.libratoURL
        c.flushInterval = flushInterval
        c.flushBytes = flushBytes
        // Local mode serves people watching their screen: an interval is printed when it closes, not
        // a resolution later (a local drain has no delay to wait for).
        c.deadline = deadline ?? (c.isLocalMode ? 1 : 2)
        c.memoryLimitBytes = memoryLimit
        c.flushFailureLimit = flushFailureLimit
        c.partitions = partitions
        c.maxSeriesPerDrain = maxSeriesPerDrain
        c.maxValuesPerSecondPerDrain = maxValuesPerSecondPerDrain
        c.frameIDWindow = frameIDWindow
        if let workers { c.http.workers = max(1, workers) }
        c.http.maxBodyBytes = bodyLimit
        c.http.maxHeaderBytes = headerLimit
        c.http.requestTimeout = requestTimeout
        c.http.idleTimeout = idleTimeout
        c.http.maxConnections = maxConnections
        connectionOptions.apply(to: &c)
        c.http.maxBufferedBodyBytes = bodyMemoryLimit
        c.outlet.workers = outletWorkers
        c.outlet.perDestinationConcurrency = outletPerDestination
        c.outlet.pollInterval = outletInterval
        c.outlet.connectTimeout = outletConnectTimeout
        c.outlet.requestTimeout = outletTimeout
        c.outlet.retention = Int64(retention)
        c.outlet.backoffCap = outletBackoffCap
        c.outlet.lease = outletLease.map(Int64.init)
        c.shutdownGrace = shutdownGrace

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
