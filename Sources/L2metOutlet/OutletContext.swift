import L2metCore
import L2metStore
import Logging

/// What every thread of one outlet shares. Every member is thread-safe.
struct OutletContext: Sendable {
    let store: Store
    let configuration: OutletConfiguration
    let resolve: @Sendable (String) throws -> Destination
    let metrics: OutletMetrics
    let logger: Logger
    let control: OutletControl
    let scheduler: DeliveryScheduler
}
