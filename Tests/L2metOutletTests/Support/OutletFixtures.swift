import Foundation
import L2metCore
import L2metObservability
import L2metOutlet
import L2metStore
import XCTest

/// Outlets as the outlet tests run them: fast back-off, short time-outs, tokens resolved from a table.
extension XCTestCase {
    /// The user agent the outlet tests expect on every request.
    static let testUserAgent = "l2met/9.8.7"

    func outletConfiguration(libratoURL: String = "http://127.0.0.1:9/v1/metrics") -> OutletConfiguration {
        var c = OutletConfiguration()
        c.workers = 2
        c.pollInterval = 0.05
        c.libratoURL = libratoURL
        c.userAgent = Self.testUserAgent
        c.backoffBase = 0.05
        c.backoffCap = 0.2
        c.breakerBase = 0.5
        c.retention = Buckets.testRetention
        c.connectTimeout = 2
        c.requestTimeout = 5
        return c
    }

    /// An outlet whose bucket tokens resolve through `destinations` (an unknown token is unresolvable).
    func makeOutlet(_ store: Store, _ c: OutletConfiguration, _ metrics: MetricsRegistry, _ logs: LogCapture,
                    destinations: [String: Destination]) -> Outlet {
        Outlet(store: store, configuration: c, resolve: { token in
            guard let d = destinations[token] else { throw DestinationError.empty }
            return d
        }, metrics: metrics, logger: logs.logger)
    }

    /// The value of one series of `metrics`.
    func counter(_ metrics: MetricsRegistry, _ name: String, _ labels: [(String, String)] = []) -> Double {
        metrics.counter(name, "", labels: labels).value
    }
}
