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
    /// Seconds within which a request's head must arrive, from its first byte (for a connection's first
    /// request, from the connection's opening); then 408, or a plain close if nothing came. Never more
    /// than `requestTimeout`.
    public var headerTimeout = 10.0
    /// Seconds a keep-alive connection may sit idle between requests before it is closed.
    public var idleTimeout = 15.0
    /// Open connections across all workers. At the limit a new connection takes the place of the
    /// oldest idle one (connected, no request in progress), which is closed; only when none is idle
    /// is it refused (503 and closed).
    public var maxConnections = 10_000
    /// Open connections from one client address (IPv4 or IPv6), across all workers; 0: no cap. Over
    /// it, that address's oldest idle connection is closed for the new one; when none of its
    /// connections is idle, the new one gets 503 and is closed. Other addresses are not affected.
    /// Behind a proxy every connection comes from the proxy's few addresses: keep it well above the
    /// requests the proxy has in progress at once, or 0.
    public var maxConnectionsPerPeer = 1024
    /// Bytes of request bodies held in memory at once, across all connections, while they arrive and
    /// while the handler runs (never less than `maxBodyBytes`). A body that would go past it gets 503
    /// and the connection is closed: without it, slow clients each holding a body near the limit
    /// (a few KB of gzip each) could make the process hold `maxConnections` × `maxBodyBytes`.
    public var maxBufferedBodyBytes = 256 * 1024 * 1024

    public init() {}

    /// Online processors, at least 1.
    public static var processorCount: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }
}
