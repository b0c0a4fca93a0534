import Foundation
import L2metCore
import L2metStore
import Logging

/// Turns claimed buckets into deliveries: one group per destination (tokens that decrypt to the same
/// destination share requests), buckets that cannot be delivered dropped (acknowledged, counted,
/// logged once per destination), the rest built into requests by their destination's sink.
/// Used by one thread at a time (it owns sinks).
final class DeliveryPlanner {
    private let context: OutletContext
    private let sinks: SinkSet
    private var logger: Logger

    init(context: OutletContext) {
        self.context = context
        sinks = SinkSet(context.configuration, abort: nil)
        logger = context.logger
    }

    /// The deliveries for `claimed`, taken under the lease ending at `leaseEnd`, at `now` (epoch s).
    func plan(_ claimed: [ClaimedBucket], leaseEnd: Int64, now: Int64) -> [Delivery] {
        var groups: [(destination: Destination, buckets: [ClaimedBucket])] = []
        var groupOfToken: [String: Int] = [:]
        var unresolvable: [String: (why: String, keys: [BucketKey])] = [:]
        for bucket in claimed {
            let token = bucket.key.token
            if let i = groupOfToken[token] {
                groups[i].buckets.append(bucket)
            } else if unresolvable[token] != nil {
                unresolvable[token]!.keys.append(bucket.key)
            } else {
                do {
                    let destination = try context.resolve(token)
                    let i = groups.firstIndex { $0.destination == destination } ?? groups.count
                    if i == groups.count { groups.append((destination, [])) }
                    groupOfToken[token] = i
                    groups[i].buckets.append(bucket)
                } catch {
                    let why = scrubbed("\(error)", hiding: [token], limit: context.configuration.maxErrorBodyBytes)
                    unresolvable[token] = (why, [bucket.key])
                }
            }
        }
        var drop: [BucketKey] = []
        for (why, keys) in unresolvable.values {
            context.metrics.dropped(.unresolvable).increment(by: keys.count)
            logger.warning("dropping buckets: their drain credentials do not resolve to a destination", metadata: [
                "buckets": "\(keys.count)", "error": "\(why)",
            ])
            drop += keys
        }
        let oldestKept = now - context.configuration.retention
        var deliveries: [Delivery] = []
        for group in groups {
            let expired = group.buckets.filter { $0.key.end < oldestKept }
            if !expired.isEmpty {
                context.metrics.dropped(.expired).increment(by: expired.count)
                logger.error("dropping buckets older than the retention; their destination never accepted them", metadata: [
                    "destination": "\(group.destination.loggableName)", "buckets": "\(expired.count)",
                    "retention": "\(context.configuration.retention)",
                    "oldest": "\(expired.map(\.key.end).min()!)",
                ])
                drop += expired.map(\.key)
            }
            var live = expired.isEmpty ? group.buckets : group.buckets.filter { $0.key.end >= oldestKept }
            // In key order, so that a retry after another claim sends the same bodies.
            live.sort { a, b in
                let (x, y) = (a.key, b.key)
                if x.time != y.time { return x.time < y.time }
                if x.name != y.name { return x.name < y.name }
                if x.source != y.source { return x.source < y.source }
                if x.kind != y.kind { return x.kind.rawValue < y.kind.rawValue }
                if x.units != y.units { return x.units < y.units }
                if x.resolution != y.resolution { return x.resolution < y.resolution }
                return x.token < y.token
            }
            deliveries += sinks.deliveries(for: live, destination: group.destination, leaseEnd: leaseEnd, drop: &drop)
        }
        acknowledge(drop, context: context, logger: logger)
        return deliveries
    }
}
