import Foundation
import L2metHTTP

/// A Librato (or OTLP collector) stand-in for tests: a real HTTP server on loopback that records every
/// request and answers from a script (then 200 for good).
public final class FakeLibrato: @unchecked Sendable {
    /// One request as the fake saw it, and what it answered.
    public struct Recorded {
        public var at: Date
        public var path: String
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]
        /// What the fake answered.
        public var status: Int
        public var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:] }
        public var gauges: [[String: Any]] { json["gauges"] as? [[String: Any]] ?? [] }
        public func header(_ name: String) -> String? { headers.first { $0.name == name }?.value }
    }

    private let lock = NSLock()
    private var script: [HTTPResponse]
    private let respond: (@Sendable (HTTPRequest) -> HTTPResponse?)?
    private var recorded: [Recorded] = []
    private var server: HTTPServer!

    /// - Parameters:
    ///   - port: 0 for any free port.
    ///   - respond: answers a request by what it holds (its credentials, say); nil falls back to the script.
    public init(script: [HTTPResponse] = [], port: Int = 0, respond: (@Sendable (HTTPRequest) -> HTTPResponse?)? = nil) throws {
        self.script = script
        self.respond = respond
        var c = HTTPServerConfiguration()
        c.host = "127.0.0.1"
        c.port = port
        c.workers = 1
        server = HTTPServer(configuration: c) { [unowned self] request in
            self.lock.lock()
            defer { self.lock.unlock() }
            let response = self.respond?(request)
                ?? (self.script.isEmpty ? HTTPResponse(status: 200, body: Array("{}".utf8)) : self.script.removeFirst())
            self.recorded.append(Recorded(at: Date(), path: request.path,
                                          headers: request.headers.map { (name: $0.name, value: $0.value) },
                                          body: request.body, status: response.status))
            return response
        }
        try server.start()
    }

    public var port: Int { server.boundPort }
    public var url: String { "http://127.0.0.1:\(server.boundPort)/v1/metrics" }

    public var requests: [Recorded] {
        lock.lock(); defer { lock.unlock() }
        return recorded
    }

    /// Gauges of the requests answered 2xx (the script's failures excluded).
    public var gauges: [[String: Any]] { requests.filter { (200..<300).contains($0.status) }.flatMap(\.gauges) }

    /// Waits until `predicate` holds for the recorded requests, up to `timeout` seconds.
    @discardableResult
    public func wait(timeout: Double = 30, until predicate: ([Recorded]) -> Bool) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if predicate(requests) { return true }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return predicate(requests)
    }

    public func stop() { server.stop(gracePeriod: 1) }
}
