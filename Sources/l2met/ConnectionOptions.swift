import ArgumentParser
import L2metServer

/// `l2met serve`'s connection flags beyond `--max-connections` and `--idle-timeout`.
struct ConnectionOptions: ParsableArguments {
    @Option(help: """
        Seconds within which a request's head must arrive, from its first byte (from the connection's \
        opening for its first request); then 408. At most --request-timeout.
        """)
    var headerTimeout = 10.0
    @Option(help: """
        Most simultaneous connections from one client address; over it the address's own oldest idle \
        connection is closed, and with none idle the new one gets 503. 0: no cap. Behind a proxy every \
        connection has the proxy's address: raise it or use 0.
        """)
    var maxConnectionsPerPeer = 1024

    func validate() throws {
        if !(headerTimeout > 0) { throw ValidationError("--header-timeout must be above 0") }
        if maxConnectionsPerPeer < 0 { throw ValidationError("--max-connections-per-peer must be 0 or more") }
    }

    func apply(to c: inout ServerConfiguration) {
        c.http.headerTimeout = headerTimeout
        c.http.maxConnectionsPerPeer = maxConnectionsPerPeer
    }
}
