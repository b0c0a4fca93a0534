import Glibc

/// Where the HTTP server listens, how many worker threads it runs, and the limits it enforces on clients.
public struct HTTPServerConfiguration: Sendable {
    /// Address to bind (an IPv4 or IPv6 literal, or a name such as `localhost`).
    public var host = "127.0.0.1"
    /// TCP port; 0 picks an ephemeral port (read it back from `HTTPServer.boundPort`).
    public var port = 8080
    /// Event-loop threads, each with its own listening socket (`SO_REUSEPORT`) and epoll instance.
    public var workers = HTTPServerConfiguration.processorCount
    /// Largest request head (request line and headers); larger gets 431 and the connection is closed.
    public var maxHeaderBytes = 16 * 1024
    /// Largest request body, after de-chunking and gunzipping, and on the wire; larger gets 413.
    public var maxBodyBytes = 10 * 1024 * 1024
    /// Seconds within which a whole request must arrive once it has begun (or once the connection opened); then 408.
    public var requestTimeout = 30.0
    /// Seconds a keep-alive connection may sit idle between requests before it is closed.
    public var idleTimeout = 60.0
    /// Open connections across all workers; connections beyond are closed as soon as they are accepted.
    public var maxConnections = 10_000
    /// Bytes of request bodies held in memory at once, across all connections, while they arrive and
    /// while the handler runs (never less than `maxBodyBytes`). A body that would go past it gets 503
    /// and the connection is closed: without it, slow clients each holding a body near the limit
    /// (a few KB of gzip each) could make the process hold `maxConnections` × `maxBodyBytes`.
    public var maxBufferedBodyBytes = 256 * 1024 * 1024

    public init() {}

    /// Online processors, at least 1.
    public static var processorCount: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }
}
