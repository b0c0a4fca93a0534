import ArgumentParser
import L2metServer

/// `l2met serve`'s connection flags beyond `--max-connections` and `--idle-timeout`.
struct ConnectionOptions: ParsableArguments {
    private static let d = ServerConfiguration()

    @Option(help: """
        Seconds within which a request's head must arrive, from its first byte (from the connection's \
        opening for its first request); then 408. At most --request-timeout (default \(d.http.headerTimeout)).
        """)
    var headerTimeout: Double?
    @Option(help: """
        Most simultaneous connections from one client address; over it the address's own oldest idle \
        connection is closed, and with none idle the new one gets 503. 0: no cap. Behind a proxy every \
        connection has the proxy's address: raise it or use 0 (default \(d.http.maxConnectionsPerPeer)).
        """)
    var maxConnectionsPerPeer: Int?

    func apply(to c: inout ServerConfiguration, from source: SettingSource) throws {
        try source.set(&c.http.headerTimeout, headerTimeout, "header-timeout")
        try source.set(&c.http.maxConnectionsPerPeer, maxConnectionsPerPeer, "max-connections-per-peer")
    }
}
