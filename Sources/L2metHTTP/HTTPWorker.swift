import Glibc

/// One event-loop thread: its own listening socket (`SO_REUSEPORT`), epoll instance and connections.
/// Requests are parsed from the bytes as they arrive and handed to the handler on this thread.
final class HTTPWorker {
    private typealias Sys = LinuxSystemCalls

    private let configuration: HTTPServerConfiguration
    private let handler: @Sendable (HTTPRequest) -> HTTPResponse
    private let observer: HTTPServerObserver?
    private let table: ConnectionTable
    private let bodyBudget: BodyBudget
    private let bodyBudgetLimit: Int
    private var listenFD: Int32
    private let epollFD: Int32
    private let wakeFD: Int32

    private var connections: [HTTPConnection?] = []
    private var liveConnections = 0
    private var now: Int64 = 0
    private var nextSweep: Int64 = 0
    private var listenerPausedUntil: Int64 = 0
    private var stopping = false
    private var stopDeadline: Int64 = .max
    private let stopLock = Lock()
    private var requestedStopDeadline: Int64?

    private let readScratchSize = 64 * 1024
    private let readScratch: UnsafeMutableRawPointer
    private let writeScratchSize = 64 * 1024
    private let writeScratch: UnsafeMutablePointer<UInt8>
    private var date = HTTPDate()
    private var spareInflaters: [GzipInflater] = []

    private let requestTimeout: Int64
    private let headerTimeout: Int64
    private let idleTimeout: Int64
    private let lingerTimeout: Int64 = 1_000_000_000
    private let sweepInterval: Int64 = 100_000_000

    init(listenFD: Int32, configuration: HTTPServerConfiguration, table: ConnectionTable, bodyBudget: BodyBudget,
         observer: HTTPServerObserver?, handler: @escaping @Sendable (HTTPRequest) -> HTTPResponse) throws {
        self.listenFD = listenFD
        self.configuration = configuration
        self.table = table
        self.bodyBudget = bodyBudget
        bodyBudgetLimit = max(configuration.maxBufferedBodyBytes, configuration.maxBodyBytes)
        self.observer = observer
        self.handler = handler
        requestTimeout = Int64(max(0.001, configuration.requestTimeout) * 1e9)
        headerTimeout = min(requestTimeout, Int64(max(0.001, configuration.headerTimeout) * 1e9))
        idleTimeout = Int64(max(0.001, configuration.idleTimeout) * 1e9)
        epollFD = Sys.epollCreate1(Sys.EPOLL_CLOEXEC)
        guard epollFD >= 0 else { throw HTTPError("epoll_create1: \(errnoText())") }
        wakeFD = Sys.eventfd(0, Sys.EFD_NONBLOCK | Sys.EFD_CLOEXEC)
        guard wakeFD >= 0 else {
            close(epollFD)
            throw HTTPError("eventfd: \(errnoText())")
        }
        readScratch = UnsafeMutableRawPointer.allocate(byteCount: readScratchSize, alignment: 16)
        writeScratch = UnsafeMutablePointer<UInt8>.allocate(capacity: writeScratchSize)
        Sys.control(epollFD, Sys.EPOLL_CTL_ADD, fd: listenFD, events: Sys.EPOLLIN)
        Sys.control(epollFD, Sys.EPOLL_CTL_ADD, fd: wakeFD, events: Sys.EPOLLIN)
    }

    deinit {
        readScratch.deallocate()
        writeScratch.deallocate()
    }

    /// Asks the loop to stop accepting, finish what is in flight, and return by `deadline` (monotonic ns).
    func requestStop(deadline: Int64) {
        stopLock.withLock { requestedStopDeadline = deadline }
        var one: UInt64 = 1
        _ = Glibc.write(wakeFD, &one, 8)
    }

    // MARK: - Event loop

    func run() {
        let maxEvents = 256
        let events = UnsafeMutableRawPointer.allocate(byteCount: maxEvents * Sys.epollEventSize, alignment: 8)
        defer { events.deallocate() }
        now = monotonicNanos()
        nextSweep = now + sweepInterval
        while true {
            let needsTimer = liveConnections > 0 || stopping || listenerPausedUntil > 0
            let timeout: Int32 = needsTimer ? Int32(sweepInterval / 1_000_000) : -1
            let n = Sys.epollWait(epollFD, events, Int32(maxEvents), timeout)
            now = monotonicNanos()
            if n < 0 && errno != EINTR { break }
            var acceptPending = false
            var i = 0
            while i < Int(n) {
                let ev = events + i * Sys.epollEventSize
                let flags = ev.loadUnaligned(as: UInt32.self)
                let fd = Int32(truncatingIfNeeded: ev.loadUnaligned(fromByteOffset: Sys.epollDataOffset, as: UInt64.self))
                i += 1
                if fd == listenFD {
                    acceptPending = true
                } else if fd == wakeFD {
                    var value: UInt64 = 0
                    _ = read(wakeFD, &value, 8)
                    if let deadline = stopLock.withLock({ requestedStopDeadline }) { beginStop(deadline: deadline) }
                } else if Int(fd) < connections.count, let c = connections[Int(fd)] {
                    handleEvent(c, flags)
                }
            }
            // Accept after the batch, so a descriptor closed in it and reused by accept4 cannot receive
            // an event meant for its previous connection.
            if acceptPending && listenFD >= 0 { acceptConnections() }
            if now >= nextSweep {
                nextSweep = now + sweepInterval
                sweep()
            }
            if stopping {
                if liveConnections == 0 { break }
                if now >= stopDeadline {
                    for case let c? in connections { closeConnection(c) }
                    break
                }
            }
        }
        closeDescriptors()
    }

    /// Closes the listening socket, the wake-up eventfd and the epoll instance, once: at the end of
    /// `run`, or for a worker that never ran (the server failed to start).
    func closeDescriptors() {
        if listenFD >= 0 { close(listenFD) }
        listenFD = -1
        close(wakeFD)
        close(epollFD)
    }

    private func beginStop(deadline: Int64) {
        guard !stopping else { return }
        stopping = true
        stopDeadline = deadline
        if listenFD >= 0 {
            Sys.control(epollFD, Sys.EPOLL_CTL_DEL, fd: listenFD, events: 0)
            close(listenFD)
            listenFD = -1
        }
        for case let c? in connections where isIdle(c) { closeConnection(c) }
    }

    private func isIdle(_ c: HTTPConnection) -> Bool {
        c.phase == .head && !c.inRequest && !c.writeBlocked && c.closeMode == .keepOpen && c.input.isEmpty
    }

    private func acceptConnections() {
        for _ in 0..<64 {
            var address = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Sys.accept4(listenFD, $0, &length, Sys.SOCK_NONBLOCK | Sys.SOCK_CLOEXEC)
                }
            }
            if fd < 0 {
                let e = errno
                if e == EINTR || e == ECONNABORTED || e == EPROTO { continue }
                if e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM {
                    // Out of descriptors: close the oldest idle connection (its owner closes its
                    // descriptor on the hang-up, before this loop accepts again); with none idle,
                    // stop listening for a moment instead of spinning.
                    if !((e == EMFILE || e == ENFILE) && table.evictForDescriptors()) {
                        Sys.control(epollFD, Sys.EPOLL_CTL_DEL, fd: listenFD, events: 0)
                        listenerPausedUntil = now + sweepInterval
                    }
                }
                return
            }
            let decoder = HTTPBodyDecoder(maxBodyBytes: configuration.maxBodyBytes, maxTrailerBytes: configuration.maxHeaderBytes)
            let c = HTTPConnection(fd: fd, acceptedAt: now, deadline: now + headerTimeout, decoder: decoder)
            switch table.admit(c, from: PeerAddress(address)) {
            case .admitted:
                break
            case .full:
                let refusal: StaticString = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 21\r\nConnection: close\r\nRetry-After: 5\r\n\r\ntoo many connections\n"
                _ = send(fd, refusal.utf8Start, refusal.utf8CodeUnitCount, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
                close(fd)
                continue
            case .peerFull:
                let refusal: StaticString = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 39\r\nConnection: close\r\nRetry-After: 5\r\n\r\ntoo many connections from your address\n"
                _ = send(fd, refusal.utf8Start, refusal.utf8CodeUnitCount, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
                close(fd)
                continue
            }
            c.parked = true
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let index = Int(fd)
            if index >= connections.count {
                connections.append(contentsOf: repeatElement(nil, count: max(index + 1 - connections.count, connections.count)))
            }
            connections[index] = c
            liveConnections += 1
            if Sys.control(epollFD, Sys.EPOLL_CTL_ADD, fd: fd, events: Sys.EPOLLIN) != 0 { closeConnection(c) }
        }
    }

    /// Returns a connection's gzip decoder to the worker's small pool (zlib state is ~40 KB).
    private func releaseInflater(_ c: HTTPConnection) {
        guard let inflater = c.decoder.takeInflater() else { return }
        if spareInflaters.count < 4 { spareInflaters.append(inflater) }
    }

    /// Drops a connection's body and gives its memory back to the server's budget.
    private func releaseBody(_ c: HTTPConnection) {
        c.body = []
        if c.budgeted > 0 {
            bodyBudget.give(c.budgeted)
            c.budgeted = 0
        }
    }

    private func closeConnection(_ c: HTTPConnection) {
        guard !c.closed else { return }
        c.closed = true
        c.parked = false
        releaseInflater(c)
        releaseBody(c)
        // Off the idle list before the descriptor can be reused.
        table.release(c)
        close(c.fd)
        if Int(c.fd) < connections.count, connections[Int(c.fd)] === c { connections[Int(c.fd)] = nil }
        liveConnections -= 1
    }

    private func sweep() {
        if listenerPausedUntil > 0 && now >= listenerPausedUntil && listenFD >= 0 {
            listenerPausedUntil = 0
            Sys.control(epollFD, Sys.EPOLL_CTL_ADD, fd: listenFD, events: Sys.EPOLLIN)
        }
        guard liveConnections > 0 else { return }
        for case let c? in connections where now >= c.deadline {
            // A request still arriving gets 408; anything else past its time (idle, lingering, a
            // response the client does not read) is just closed.
            if c.inRequest && c.phase != .lingering && !c.writeBlocked && c.closeMode == .keepOpen {
                if c.hasHead {
                    reject(c, 408, "the request did not arrive within \(configuration.requestTimeout) seconds")
                } else {
                    reject(c, 408, "the request head did not arrive within \(Double(headerTimeout) / 1e9) seconds")
                }
            } else {
                closeConnection(c)
            }
        }
    }

    // MARK: - Reading

    private func handleEvent(_ c: HTTPConnection, _ flags: UInt32) {
        if c.parked {
            // Off the idle list while it is worked on; if another worker evicted it meanwhile, close it.
            c.parked = false
            guard table.claim(c) else {
                closeConnection(c)
                return
            }
        }
        handleEventUnparked(c, flags)
        if !c.closed && isIdle(c) {
            table.markIdle(c)
            c.parked = true
        }
    }

    private func handleEventUnparked(_ c: HTTPConnection, _ flags: UInt32) {
        if flags & Sys.EPOLLERR != 0 {
            closeConnection(c)
            return
        }
        if c.writeBlocked {
            if flags & (Sys.EPOLLOUT | Sys.EPOLLHUP) != 0 { flush(c) }
            if !c.closed && !c.writeBlocked { resume(c) }
            return
        }
        if flags & (Sys.EPOLLIN | Sys.EPOLLHUP) != 0 { readable(c) }
    }

    private func readable(_ c: HTTPConnection) {
        let n = recv(c.fd, readScratch, readScratchSize, 0)
        if n == 0 {
            closeConnection(c)
            return
        }
        if n < 0 {
            let e = errno
            if e != EAGAIN && e != EWOULDBLOCK && e != EINTR { closeConnection(c) }
            return
        }
        if c.phase == .lingering { return }
        let fresh = UnsafeRawBufferPointer(start: readScratch, count: n)
        if c.input.isEmpty {
            let used = feed(c, fresh)
            if !c.closed && used < n && c.phase != .lingering {
                c.input.append(UnsafeRawBufferPointer(rebasing: fresh[used...]))
            }
        } else {
            c.input.append(fresh)
            let used = feed(c, c.input.readable)
            if !c.closed {
                if c.phase == .lingering { c.input.reset() } else { c.input.consume(used) }
            }
        }
    }

    /// After blocked output drained: parse what was held back.
    private func resume(_ c: HTTPConnection) {
        if c.phase == .head && !c.inRequest { c.deadline = now + (stopping ? 0 : idleTimeout) }
        if stopping && isIdle(c) {
            closeConnection(c)
            return
        }
        guard !c.input.isEmpty else { return }
        let used = feed(c, c.input.readable)
        if !c.closed {
            if c.phase == .lingering { c.input.reset() } else { c.input.consume(used) }
        }
    }

    /// Runs the parser over `bytes`; returns how many it consumed (the rest must be kept for later).
    private func feed(_ c: HTTPConnection, _ bytes: UnsafeRawBufferPointer) -> Int {
        let count = bytes.count
        var offset = 0
        while !c.closed {
            if c.closeMode != .keepOpen { return count }
            if c.writeBlocked { return offset }
            switch c.phase {
            case .lingering:
                return count

            case .head:
                if !c.inRequest {
                    while offset < count && (bytes[offset] == 13 || bytes[offset] == 10) { offset += 1 }
                    if offset == count { return offset }
                    c.inRequest = true
                    c.requestStart = c.served ? now : c.acceptedAt
                    c.deadline = c.requestStart + headerTimeout
                    c.headScanFrom = 0
                    c.headLineStart = 0
                }
                if offset == count { return offset }
                let window = UnsafeRawBufferPointer(rebasing: bytes[offset...])
                var lineStart = c.headLineStart
                guard let end = RequestHeadParser.findEnd(window, from: c.headScanFrom, lineStart: &lineStart) else {
                    if window.count > configuration.maxHeaderBytes {
                        reject(c, 431, "the request head is larger than \(configuration.maxHeaderBytes) bytes")
                        return count
                    }
                    c.headScanFrom = window.count
                    c.headLineStart = lineStart
                    return offset
                }
                if end > configuration.maxHeaderBytes {
                    reject(c, 431, "the request head is larger than \(configuration.maxHeaderBytes) bytes")
                    return count
                }
                switch RequestHeadParser.parse(UnsafeRawBufferPointer(rebasing: window[..<end])) {
                case .failure(let rejection):
                    reject(c, rejection.status, rejection.message)
                    return count
                case .success(let head):
                    c.head = head
                    c.hasHead = true
                }
                offset += end
                c.deadline = c.requestStart + requestTimeout
                if !startBody(c) { return count }
                if c.phase == .head {
                    complete(c)
                } else if c.head.expectContinue && offset == count {
                    let interim: StaticString = "HTTP/1.1 100 Continue\r\n\r\n"
                    var out = OutputWriter(base: writeScratch, capacity: writeScratchSize)
                    out.append(interim)
                    emit(c, &out)
                }

            case .body:
                switch c.decoder.feed(UnsafeRawBufferPointer(rebasing: bytes[offset...]), into: &c.body) {
                case .needMore(let used):
                    return offset + used
                case .appended(let used):
                    offset += used
                    guard chargeBody(c) else { return count }
                case .complete(let used):
                    offset += used
                    complete(c)
                case .rejected(let rejection):
                    reject(c, rejection.status, rejection.message)
                    return count
                }
            }
        }
        return count
    }

    /// Sets up body reading after a head; false when the request was refused.
    private func startBody(_ c: HTTPConnection) -> Bool {
        let head = c.head
        c.body = []
        if head.gzip && c.decoder.inflater == nil { c.decoder.inflater = spareInflaters.popLast() }
        if let rejection = c.decoder.begin(head) {
            reject(c, rejection.status, rejection.message)
            return false
        }
        if c.decoder.awaitsCompletion {
            c.phase = .head
        } else {
            // Memory follows the bytes that actually arrive, not what the client announces.
            if !head.chunked && !head.gzip, let length = head.contentLength { c.body.reserveCapacity(min(length, 64 * 1024)) }
            c.phase = .body
        }
        return true
    }

    /// Takes what the body's memory grew by from the server-wide budget; false (503 sent) when the
    /// bodies held across all connections would go past `maxBufferedBodyBytes`.
    private func chargeBody(_ c: HTTPConnection) -> Bool {
        let held = c.body.capacity
        guard held > c.budgeted else { return true }
        guard bodyBudget.take(held - c.budgeted, limit: bodyBudgetLimit) else {
            reject(c, 503, "too many request bodies in memory right now; retry later")
            return false
        }
        c.budgeted = held
        return true
    }

    // MARK: - Answering

    /// The whole request is in: run the handler and send its answer.
    private func complete(_ c: HTTPConnection) {
        let head = c.head
        let wireBytes = c.decoder.wireBytes
        var request: HTTPRequest? = HTTPRequest(method: head.method, path: head.path, query: head.query,
                                                headers: head.headers, body: c.body)
        c.body = []
        c.head = RequestHead()
        releaseInflater(c)
        let response = handler(request!)
        request = nil
        releaseBody(c)
        // A stop may have been asked for while the handler ran: say so in this answer.
        let closing = head.wantsClose || stopping || stopLock.withLock({ requestedStopDeadline != nil })
        var out = OutputWriter(base: writeScratch, capacity: writeScratchSize)
        let dateBytes = date.current()
        dateBytes.withUnsafeBytes { d in
            response.serialize(into: &out, close: closing, keepAliveHeader: head.minorVersion == 0 && !closing, date: d,
                               omitBody: head.method == "HEAD")
        }
        observer?.requestCompleted(method: head.method, path: head.path, status: response.status, requestBytes: wireBytes)
        c.resetRequest()
        c.served = true
        c.deadline = now + idleTimeout
        if closing { c.closeMode = .close }
        emit(c, &out)
    }

    /// Answers with an error, then shuts our side and discards input until the client closes.
    private func reject(_ c: HTTPConnection, _ status: Int, _ message: String) {
        guard c.closeMode == .keepOpen, c.phase != .lingering else { return }
        var response = HTTPResponse.text(status, message)
        if status == 503 { response.headers.append(("Retry-After", "5")) }
        var out = OutputWriter(base: writeScratch, capacity: writeScratchSize)
        let dateBytes = date.current()
        dateBytes.withUnsafeBytes { d in
            response.serialize(into: &out, close: true, keepAliveHeader: false, date: d, omitBody: c.head.method == "HEAD")
        }
        observer?.requestCompleted(method: c.hasHead ? c.head.method : "", path: c.hasHead ? c.head.path : "",
                                   status: status, requestBytes: c.decoder.wireBytes)
        c.resetRequest()
        releaseInflater(c)
        releaseBody(c)
        c.closeMode = .linger
        emit(c, &out)
    }

    /// Sends what `out` holds (directly when nothing is queued), queues the rest, then flushes.
    private func emit(_ c: HTTPConnection, _ out: inout OutputWriter) {
        write(c, UnsafeRawBufferPointer(start: out.base, count: out.count))
        if !out.overflow.isEmpty { out.overflow.withUnsafeBytes { write(c, $0) } }
        flush(c)
    }

    private func write(_ c: HTTPConnection, _ bytes: UnsafeRawBufferPointer) {
        guard !c.closed, bytes.count > 0 else { return }
        var sent = 0
        if c.output.isEmpty {
            while sent < bytes.count {
                let n = send(c.fd, bytes.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL))
                if n > 0 { sent += n; continue }
                if n < 0 && errno == EINTR { continue }
                if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { break }
                closeConnection(c)
                return
            }
        }
        if sent < bytes.count { c.output.append(UnsafeRawBufferPointer(rebasing: bytes[sent...])) }
    }

    /// Sends queued output; when all is sent, applies the close mode or goes back to reading.
    private func flush(_ c: HTTPConnection) {
        guard !c.closed else { return }
        while !c.output.isEmpty {
            let pending = c.output.readable
            let n = send(c.fd, pending.baseAddress!, pending.count, Int32(MSG_NOSIGNAL))
            if n > 0 {
                c.output.consume(n)
                continue
            }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                if !c.writeBlocked {
                    c.writeBlocked = true
                    c.deadline = now + requestTimeout
                    Sys.control(epollFD, Sys.EPOLL_CTL_MOD, fd: c.fd, events: Sys.EPOLLOUT)
                }
                return
            }
            closeConnection(c)
            return
        }
        if c.writeBlocked {
            c.writeBlocked = false
            Sys.control(epollFD, Sys.EPOLL_CTL_MOD, fd: c.fd, events: Sys.EPOLLIN)
        }
        switch c.closeMode {
        case .keepOpen:
            break
        case .close:
            closeConnection(c)
        case .linger:
            shutdown(c.fd, Int32(SHUT_WR))
            c.input.reset()
            c.phase = .lingering
            c.deadline = now + min(lingerTimeout, stopping ? max(0, stopDeadline - now) : lingerTimeout)
        }
    }
}
