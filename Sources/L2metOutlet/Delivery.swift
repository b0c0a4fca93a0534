import L2metCore
import L2metStore

/// One request of a claim on its way to its destination. Invariant: `buckets` are exactly the claimed
/// buckets whose keys `request.keys` names, all claimed under the lease that ends at `leaseEnd`, and
/// `attempts` is the most failed attempts any of them has had.
struct Delivery: Sendable {
    let request: SinkRequest
    let buckets: [ClaimedBucket]
    let destination: Destination
    let id: DestinationID
    let leaseEnd: Int64

    var attempts: Int { buckets.map(\.attempts).max() ?? 0 }

    /// About the memory it holds: its body and its buckets' data (counted once, when it is made).
    let bytes: Int

    init(request: SinkRequest, buckets: [ClaimedBucket], destination: Destination, id: DestinationID, leaseEnd: Int64) {
        self.request = request
        self.buckets = buckets
        self.destination = destination
        self.id = id
        self.leaseEnd = leaseEnd
        bytes = request.body.count + buckets.reduce(0) {
            $0 + 120 + $1.key.name.utf8.count + $1.key.source.utf8.count + $1.key.token.utf8.count + $1.data.approximateValueBytes
        }
    }

    /// The deliveries of `requests`, built from `buckets` (a superset of their keys).
    static func make(_ requests: [SinkRequest], from buckets: [ClaimedBucket], destination: Destination,
                     leaseEnd: Int64) -> [Delivery] {
        let byKey = Dictionary(buckets.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        let id = DestinationID(destination)
        return requests.map { request in
            Delivery(request: request, buckets: request.keys.compactMap { byKey[$0] }, destination: destination,
                     id: id, leaseEnd: leaseEnd)
        }
    }
}

/// The sinks of one thread, one per destination kind (a sink is used by one thread at a time).
struct SinkSet {
    let librato: LibratoSink
    let local: LocalSink
    let otlp: OTLPSink

    init(_ c: OutletConfiguration, abort: (@Sendable () -> Bool)?) {
        let client = CurlHTTPClient(userAgent: c.userAgent, connectTimeout: c.connectTimeout,
                                    requestTimeout: c.requestTimeout, abort: abort)
        librato = LibratoSink(client: client, defaultURL: c.libratoURL)
        local = LocalSink(output: c.localOutput)
        otlp = OTLPSink(client: client, scopeVersion: OTLPSink.version(fromUserAgent: c.userAgent))
    }

    func sink(for destination: Destination) -> MetricSink {
        switch destination {
        case .librato: return librato
        case .local: return local
        case .otlp: return otlp
        }
    }

    /// The deliveries of `buckets` (all of one destination); buckets with nothing to send are added
    /// to `drop` instead.
    func deliveries(for buckets: [ClaimedBucket], destination: Destination, leaseEnd: Int64,
                    drop: inout [BucketKey]) -> [Delivery] {
        guard !buckets.isEmpty else { return [] }
        var sendable: [SinkRequest] = []
        for r in sink(for: destination).requests(for: buckets, destination: destination) {
            if r.itemCount == 0 { drop += r.keys } else { sendable.append(r) }
        }
        return Delivery.make(sendable, from: buckets, destination: destination, leaseEnd: leaseEnd)
    }
}
