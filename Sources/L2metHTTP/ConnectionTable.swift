import Glibc

/// A client's IP address, the key of the per-peer connection count (IPv4 as IPv4-mapped IPv6, so
/// `1.2.3.4` and `::ffff:1.2.3.4` are one peer).
struct PeerAddress: Hashable {
    var high: UInt64
    var low: UInt64

    init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// From what `accept4` filled in (an unknown family is one peer of its own).
    init(_ storage: sockaddr_storage) {
        var s = storage
        switch Int32(s.ss_family) {
        case AF_INET:
            // sin_addr at offset 4, network order.
            let v4 = withUnsafeBytes(of: &s) { UInt32(bigEndian: $0.loadUnaligned(fromByteOffset: 4, as: UInt32.self)) }
            self.init(high: 0, low: 0xFFFF_0000_0000 | UInt64(v4))
        case AF_INET6:
            // sin6_addr at offset 8.
            let (h, l) = withUnsafeBytes(of: &s) {
                (UInt64(bigEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
                 UInt64(bigEndian: $0.loadUnaligned(fromByteOffset: 16, as: UInt64.self)))
            }
            self.init(high: h, low: l)
        default:
            self.init(high: .max, low: .max)
        }
    }
}

/// One peer's open connections and its idle ones, oldest first (guarded by the table's lock).
final class PeerState {
    let address: PeerAddress
    var open = 0
    var oldestIdle: HTTPConnection?
    var newestIdle: HTTPConnection?

    init(address: PeerAddress) { self.address = address }
}

/// The connections of all workers, for `maxConnections` and `maxConnectionsPerPeer`, and the idle
/// ones (connected, no request in progress, nothing buffered or to send) in two intrusive lists,
/// oldest idle first: one of all of them, one per peer. Under pressure a new connection takes the
/// slot of the oldest idle one instead of being refused. Every operation is O(1) (a dictionary
/// look-up per accept), under one lock.
///
/// A worker owns its connections; another worker may only *evict* one while it is on the idle list:
/// it takes it off the list, gives its slot away, and shuts the socket down (`shutdown`, which frees
/// no descriptor, so it cannot hit a reused one: the owner takes a connection off the list, under
/// the lock, before it reads from it or closes it). The owner then sees the hang-up and closes it.
final class ConnectionTable: @unchecked Sendable {
    enum Admission { case admitted, full, peerFull }

    private let lock = Lock()
    private let limit: Int
    private let perPeerLimit: Int
    private var open = 0
    private var idle = 0
    private var peers: [PeerAddress: PeerState] = [:]
    private var oldestIdle: HTTPConnection?
    private var newestIdle: HTTPConnection?
    /// Idle candidates looked at per eviction before giving up (those with bytes waiting are skipped).
    private let maxProbes = 16

    /// `perPeerLimit` 0: no per-peer cap.
    init(limit: Int, perPeerLimit: Int) {
        self.limit = max(1, limit)
        self.perPeerLimit = max(0, perPeerLimit)
    }

    var current: Int { lock.withLock { open } }
    var idleCount: Int { lock.withLock { idle } }

    /// Takes a slot for the new connection `c` from `address`, closing an idle connection if that is
    /// what it takes: the peer's own oldest when the peer is at its cap, else the oldest of all when
    /// the server is at `limit`. Refuses only when no such idle connection is left. An admitted
    /// connection starts on the idle list (it has sent nothing yet).
    func admit(_ c: HTTPConnection, from address: PeerAddress) -> Admission {
        lock.withLock {
            let peer: PeerState
            if let known = peers[address] {
                peer = known
            } else {
                peer = PeerState(address: address)
                peers[address] = peer
            }
            if perPeerLimit > 0 && peer.open >= perPeerLimit {
                // The victim's slot, both server-wide and the peer's, goes to the new connection.
                guard let victim = evictOldestIdle(of: peer) else { return .peerFull }
                victim.holdsSlot = false
            } else if open >= limit {
                guard let victim = evictOldestIdle(of: nil) else {
                    if peer.open == 0 { peers[address] = nil }
                    return .full
                }
                victim.holdsSlot = false
                peer.open += 1
                dropPeerSlot(victim.peer!)
            } else {
                open += 1
                peer.open += 1
            }
            c.peer = peer
            c.holdsSlot = true
            link(c)
            return .admitted
        }
    }

    /// Out of file descriptors: evicts the oldest idle connection of all and frees its slot. False
    /// when none is idle.
    func evictForDescriptors() -> Bool {
        lock.withLock {
            guard let victim = evictOldestIdle(of: nil) else { return false }
            victim.holdsSlot = false
            open -= 1
            dropPeerSlot(victim.peer!)
            return true
        }
    }

    /// The owner takes `c` off the idle list before touching it; false when it was evicted (the
    /// owner just closes it).
    func claim(_ c: HTTPConnection) -> Bool {
        lock.withLock {
            if c.evicted { return false }
            if c.listed { unlink(c) }
            return true
        }
    }

    /// The owner puts `c` back on the idle list, as the newest idle.
    func markIdle(_ c: HTTPConnection) {
        lock.withLock {
            guard !c.evicted, !c.listed, c.holdsSlot else { return }
            link(c)
        }
    }

    /// The owner is closing `c` (call before `close`, so no eviction can reach a reused descriptor).
    func release(_ c: HTTPConnection) {
        lock.withLock {
            if c.listed { unlink(c) }
            if c.holdsSlot {
                c.holdsSlot = false
                open -= 1
                if let peer = c.peer { dropPeerSlot(peer) }
            }
        }
    }

    // MARK: - Under the lock

    private func dropPeerSlot(_ peer: PeerState) {
        peer.open -= 1
        if peer.open <= 0, peers[peer.address] === peer { peers[peer.address] = nil }
    }

    /// Takes the oldest idle connection (of `peer`, or of all) off the lists and shuts it down. One
    /// with bytes already waiting in the kernel is a request arriving, not idle: it is moved to the
    /// newest end and the next is tried.
    private func evictOldestIdle(of peer: PeerState?) -> HTTPConnection? {
        var probes = 0
        while probes < maxProbes, let victim = peer == nil ? oldestIdle : peer!.oldestIdle {
            probes += 1
            var byte: UInt8 = 0
            let n = recv(victim.fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
            if n > 0 {
                unlink(victim)
                link(victim)
                continue
            }
            unlink(victim)
            victim.evicted = true
            shutdown(victim.fd, Int32(SHUT_RDWR))
            return victim
        }
        return nil
    }

    private func link(_ c: HTTPConnection) {
        c.listed = true
        idle += 1
        c.idlePrev = newestIdle
        c.idleNext = nil
        if let last = newestIdle { last.idleNext = c } else { oldestIdle = c }
        newestIdle = c
        guard let peer = c.peer else { return }
        c.peerIdlePrev = peer.newestIdle
        c.peerIdleNext = nil
        if let last = peer.newestIdle { last.peerIdleNext = c } else { peer.oldestIdle = c }
        peer.newestIdle = c
    }

    private func unlink(_ c: HTTPConnection) {
        c.listed = false
        idle -= 1
        if let p = c.idlePrev { p.idleNext = c.idleNext } else { oldestIdle = c.idleNext }
        if let n = c.idleNext { n.idlePrev = c.idlePrev } else { newestIdle = c.idlePrev }
        c.idlePrev = nil
        c.idleNext = nil
        guard let peer = c.peer else { return }
        if let p = c.peerIdlePrev { p.peerIdleNext = c.peerIdleNext } else { peer.oldestIdle = c.peerIdleNext }
        if let n = c.peerIdleNext { n.peerIdlePrev = c.peerIdlePrev } else { peer.newestIdle = c.peerIdlePrev }
        c.peerIdlePrev = nil
        c.peerIdleNext = nil
    }
}
