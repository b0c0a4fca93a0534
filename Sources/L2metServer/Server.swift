import Foundation
import L2metCore
import L2metCrypto
import L2metHTTP
import L2metObservability
import L2metOutlet
import L2metStore
import Logging
import Synchronization

/// One `l2met serve` process: the store, the receiver (HTTP server, registers, flusher) and the
/// outlet, started and stopped in the right order.
public final class Server: Sendable {
    public let configuration: ServerConfiguration
    public let metrics = MetricsRegistry()
    private let logger: Logger
    private let store: Store
    /// Drain bodies taken by `Logplex-Frame-Id`; nil when the check is off.
    private let frameLedger: FrameLedger?
    private let keyring: Keyring?
    private let authenticator: DrainAuthenticator
    /// What `start()` made (and `stop()` stops).
    private struct Running {
        var flusher: Flusher?
        var http: HTTPServer?
        var outlet: Outlet?
        var storeUsage: DrainStoreUsage?
    }

    private let running = Mutex(Running())

    /// Builds every part; throws on bad configuration (a malformed key, a malformed Redis URL, a Librato
    /// URL that is not http(s)).
    public init(configuration: ServerConfiguration, logger: Logger = Logger(label: "l2met")) throws {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        if configuration.runOutlet, !configuration.isLocalMode, !ServerConfiguration.isHTTPURL(configuration.libratoURL) {
            // The URL itself is not repeated: it may carry credentials.
            throw ServerConfigurationError("the Librato URL (--librato-url or LIBRATO_URL) must be http:// or https:// with a host")
        }
        keyring = configuration.isLocalMode ? nil : try Keyring(secrets: configuration.secrets!)
        authenticator = DrainAuthenticator(keyring: keyring)
        let window = configuration.frameIDWindow
        if let url = configuration.redisURL, !url.isEmpty {
            // Bucket data outlives the retention (the outlet drops a bucket past it) by an hour.
            let redis = try RedisStore(url: url, partitions: configuration.partitions,
                                       bucketTTL: configuration.outlet.retention + 3600)
            store = redis
            frameLedger = window > 0 ? RedisFrameLedger(store: redis, window: window) : nil
        } else {
            store = MemoryStore(partitions: configuration.partitions)
            frameLedger = window > 0 ? MemoryFrameLedger(window: window) : nil
        }
    }

    /// The port the receiver listens on (after `start`).
    public var port: Int { running.withLock { $0.http?.boundPort } ?? configuration.port }

    /// Starts the receiver and/or the outlet.
    public func start() throws {
        let c = configuration
        var logs: LogsEndpoint?
        var flusherForHealth: Flusher?
        if c.runReceiver {
            let registers = RegisterPool(count: c.http.workers, deadline: c.effectiveDeadline,
                                         limiter: SeriesLimiter(maxSeriesPerInterval: c.maxSeriesPerDrain))
            let flusher = Flusher(registers: registers, store: store, interval: c.flushInterval, deadline: c.effectiveDeadline,
                                  memoryLimit: c.memoryLimitBytes, flushBytes: c.flushBytes,
                                  failureLimit: c.flushFailureLimit, metrics: metrics,
                                  logger: logger.with("component", "flusher"))
            running.withLock { $0.flusher = flusher }
            flusherForHealth = flusher
            let storeUsage = DrainStoreUsage(store: store, limit: c.maxStoreBytesPerDrain, metrics: metrics,
                                             logger: logger.with("component", "store-usage"))
            running.withLock { $0.storeUsage = storeUsage }
            storeUsage.start()
            let admission = DrainAdmission(rate: DrainRateLimiter(valuesPerSecond: c.maxValuesPerSecondPerDrain),
                                           storeUsage: storeUsage)
            logs = LogsEndpoint(authenticator: authenticator, registers: registers, admission: admission, flusher: flusher,
                                frameLedger: frameLedger, metrics: metrics)
            flusher.start()
        }
        let router = Router(logs: logs, sign: SignEndpoint(keyring: keyring), store: store, flusher: flusherForHealth,
                            metrics: metrics)
        var httpConfiguration = c.http
        httpConfiguration.host = c.effectiveBind
        httpConfiguration.port = c.port
        let http = HTTPServer(configuration: httpConfiguration, observer: RequestMetrics(metrics: metrics),
                              handler: { router.handle($0) })
        try http.start()
        running.withLock { $0.http = http }
        if c.runOutlet {
            var oc = c.outlet
            oc.libratoURL = c.libratoURL
            oc.userAgent = "l2met/\(L2metBuild.version)"
            let authenticator = self.authenticator
            let outlet = Outlet(store: store, configuration: oc,
                                resolve: { token in try authenticator.destination(forToken: token, now: WallClock.seconds()) },
                                metrics: metrics, logger: logger.with("component", "outlet"))
            outlet.start()
            running.withLock { $0.outlet = outlet }
        }
        logger.info("listening", metadata: [
            "bind": "\(c.effectiveBind)", "port": "\(http.boundPort)",
            "mode": "\(c.isLocalMode ? "local" : "authenticated")",
            "store": "\(store is MemoryStore ? "memory" : "redis")",
            "receiver": "\(c.runReceiver)", "outlet": "\(c.runOutlet)",
            "frame_id_window": "\(c.frameIDWindow)",
        ])
        if c.isLocalMode {
            logger.info("local mode: drains need no credentials and metrics are printed here as at=metric lines")
        }
    }

    /// Stops taking drains, answers what is in flight, flushes every bucket to the store, and, when
    /// the store lives in this process, delivers what it holds. Returns true when nothing was lost.
    @discardableResult
    public func stop() -> Bool {
        let began = ContinuousClock.now
        let limit = began + .seconds(configuration.shutdownGrace)
        logger.info("stopping")
        let (flusher, http, outlet, storeUsage) = running.withLock { ($0.flusher, $0.http, $0.outlet, $0.storeUsage) }
        storeUsage?.stop()
        http?.stop(gracePeriod: max(1, configuration.shutdownGrace / 2))
        var clean = true
        if let flusher {
            clean = flusher.stopAndDrain(until: limit)
        }
        if let outlet {
            outlet.stop()
            if store is MemoryStore {
                // Nothing outlives this process in memory: deliver everything now, due or not.
                outlet.drain(until: limit)
            }
        }
        logger.info("stopped", metadata: ["clean": "\(clean)",
                                          "seconds": "\(String(format: "%.2f", (ContinuousClock.now - began).inSeconds))"])
        return clean
    }
}

extension Logger {
    /// A copy of this logger with one more metadata field.
    func with(_ key: String, _ value: String) -> Logger {
        var copy = self
        copy[metadataKey: key] = "\(value)"
        return copy
    }
}
