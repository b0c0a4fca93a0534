import L2metCore

/// A drain's accepted credentials: its token exactly as it arrived (the key of its buckets; "" in
/// local mode) and the destination its decrypted plaintext names.
public struct DrainCredentials: Sendable, Hashable {
    public var token: String
    public var destination: Destination

    public init(token: String, destination: Destination) {
        self.token = token
        self.destination = destination
    }

    public static func == (a: DrainCredentials, b: DrainCredentials) -> Bool {
        a.token == b.token && a.destination == b.destination
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(token)
        hasher.combine(destination.plaintext)
    }
}
