import L2metCore
import L2metStore

/// One request a sink will send for one destination: its bytes are fixed when it is built, so every
/// retry sends exactly the same body.
public struct SinkRequest: Sendable {
    public var url: String
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// The buckets the request delivers (acknowledged once it is accepted or refused for good).
    public var keys: [BucketKey]
    /// Gauges (or data points) in the body.
    public var itemCount: Int
    /// The earliest bucket end among `keys`, epoch seconds (for the delay figure).
    public var oldestEnd: Int64

    public init(url: String, headers: [(String, String)], body: [UInt8], keys: [BucketKey], itemCount: Int, oldestEnd: Int64) {
        self.url = url
        self.headers = headers
        self.body = body
        self.keys = keys
        self.itemCount = itemCount
        self.oldestEnd = oldestEnd
    }
}

/// A kind of destination the outlet delivers to (Librato, the local sink; OTLP slots in here too).
///
/// The outlet owns claiming, grouping by destination, retries and acknowledgement; a sink only turns
/// one destination's buckets into requests and sends one request once. Each worker has its own sinks,
/// so a sink need not be thread-safe.
public protocol MetricSink: AnyObject {
    /// The requests that deliver `buckets` (all of one destination). Every bucket's key is in exactly
    /// one request, even a bucket with nothing to send (so it is acknowledged).
    func requests(for buckets: [ClaimedBucket], destination: Destination) -> [SinkRequest]

    /// Sends `request` once, within `timeout` seconds.
    func send(_ request: SinkRequest, timeout: Double) -> HTTPPostResult

    /// True when sending goes over the network (time-outs, retries and `requests_total` apply).
    var isRemote: Bool { get }

    /// What one attempt's answer means, by this sink's specification (which statuses are retryable).
    func verdict(_ result: HTTPPostResult) -> DeliveryVerdict

    /// Items of an accepted request that the destination nevertheless rejected (OTLP `partialSuccess`);
    /// nil when it rejected none.
    func partialRejection(_ result: HTTPPostResult) -> PartialRejection?
}

extension MetricSink {
    public var isRemote: Bool { true }
    public func verdict(_ result: HTTPPostResult) -> DeliveryVerdict { RetryPolicy.verdict(result) }
    public func partialRejection(_ result: HTTPPostResult) -> PartialRejection? { nil }
}

/// Part of an accepted request that the destination rejected: how many items, and its message.
public struct PartialRejection: Sendable, Equatable {
    public var rejectedItems: Int
    public var message: String
    public init(rejectedItems: Int, message: String) {
        self.rejectedItems = rejectedItems
        self.message = message
    }
}

