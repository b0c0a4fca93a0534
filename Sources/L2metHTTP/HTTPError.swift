/// Why `HTTPServer.start()` could not listen, or why `HTTPClientConnection` failed.
public struct HTTPError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
