import L2metCore
import L2metHTTP

/// The drain headers that say something about the body as a whole, read in one pass over the
/// request's headers: logplex's `Logplex-Frame-Id` and log-shuttle's loss report.
///
/// Invariant: the first value of each header counts; an absent header leaves `frameID` nil or its
/// loss count 0 (a request without them costs one pass over the header names, nothing else).
struct DrainHeaders {
    var frameID: String?
    var loss = DrainLoss()

    init(_ request: HTTPRequest) {
        var dropCount: String?
        var lostCount: String?
        for h in request.headers where h.name.hasPrefix("logplex-") {
            switch h.name {
            case "logplex-frame-id": if frameID == nil { frameID = h.value }
            case "logplex-drop-count": if dropCount == nil { dropCount = h.value }
            case "logplex-lost-count": if lostCount == nil { lostCount = h.value }
            default: break
            }
        }
        if dropCount != nil || lostCount != nil { loss = DrainLoss(dropCount: dropCount, lostCount: lostCount) }
    }
}
