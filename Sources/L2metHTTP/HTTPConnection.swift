/// One client connection's state on its worker: where the parser is, the request being received,
/// unparsed input and unsent output.
final class HTTPConnection {
    enum Phase {
        /// Waiting for (the rest of) a request head.
        case head
        /// Reading the body through `decoder`.
        case body
        /// An error answer was sent and our side shut down; input is read and discarded until EOF.
        case lingering
    }

    /// What to do once the output is flushed.
    enum CloseMode { case keepOpen, close, linger }

    let fd: Int32
    var phase = Phase.head
    /// Bytes received but not parsed yet (a partial head, or input held back while output is blocked).
    let input = ByteBuffer()
    /// Bytes not sent yet.
    let output = ByteBuffer()
    var closeMode = CloseMode.keepOpen
    /// Waiting for EPOLLOUT (input is not read meanwhile).
    var writeBlocked = false
    var closed = false

    /// Some bytes of the current request have arrived.
    var inRequest = false
    /// Absolute monotonic nanoseconds at which the current phase times out.
    var deadline: Int64
    /// Resume point of the head scan, relative to the start of the head.
    var headScanFrom = 0
    var headLineStart = 0

    var head = RequestHead()
    var hasHead = false
    /// Body framing of the current request (its inflater is returned to the worker's pool after each request).
    var decoder: HTTPBodyDecoder
    var body: [UInt8] = []
    /// Bytes of `body`'s memory taken from the server's `BodyBudget` (given back with the body).
    var budgeted = 0

    /// When the connection was accepted, and when the current request's first byte came (monotonic ns).
    let acceptedAt: Int64
    var requestStart: Int64 = 0
    /// A request was answered on it (later requests' head time-out starts at their first byte).
    var served = false

    /// On the `ConnectionTable`'s idle list, as far as the owning worker knows (only it reads this).
    var parked = false
    // Guarded by the `ConnectionTable`'s lock.
    var peer: PeerState?
    var holdsSlot = false
    var listed = false
    var evicted = false
    var idlePrev: HTTPConnection?
    var idleNext: HTTPConnection?
    var peerIdlePrev: HTTPConnection?
    var peerIdleNext: HTTPConnection?

    init(fd: Int32, acceptedAt: Int64, deadline: Int64, decoder: HTTPBodyDecoder) {
        self.fd = fd
        self.decoder = decoder
        self.acceptedAt = acceptedAt
        self.deadline = deadline
    }

    /// Back to waiting for the next request on this connection.
    func resetRequest() {
        phase = .head
        inRequest = false
        hasHead = false
        headScanFrom = 0
        headLineStart = 0
        head = RequestHead()
        decoder.reset()
        body = []
    }
}
