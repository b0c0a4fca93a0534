import Foundation

/// A TCP port on 127.0.0.1 that nobody listens on right now (bound, read, released).
public func freePort() -> Int {
    guard let listener = try? Loopback.listen() else { return 0 }
    close(listener.fd)
    return listener.port
}
