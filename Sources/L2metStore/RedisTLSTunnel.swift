import COpenSSL
import Foundation
import L2metCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// An in-process TLS tunnel for one `rediss://` connection (hiredis 0.14 has no TLS).
///
/// `open` makes a socket pair; a thread of the tunnel connects TCP to the Redis host, does the TLS
/// handshake (SNI = host; certificate checks as the `RedisTLSContext` says), then pumps bytes
/// between its end of the pair (plain RESP) and the TLS connection. hiredis gets the other end
/// (`redisConnectFd`) and talks plain Redis over it. Connect and handshake have a deadline and their
/// failure is thrown by `open`, so a bad endpoint fails the caller promptly, with the reason.
/// The thread ends, closing everything, when either side closes: hiredis's `redisFree` (connection
/// dropped, pool or store deinitialised) or the server.
enum RedisTLSTunnel {
    /// Returns the plain end of a ready tunnel to `host:port` (the caller owns it and closes it).
    /// Throws `StoreError.unavailable` naming host and port and why (never a password: none is known here).
    static func open(host: String, port: Int, tls: RedisTLSContext, timeout: Double) throws -> Int32 {
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            throw StoreError.unavailable("redis \(host):\(port): TLS tunnel: socketpair: \(String(cString: strerror(errno)))")
        }
        let handshake = HandshakeOutcome()
        let inner = pair[1]
        let deadline = ContinuousClock.now + .seconds(max(0.001, timeout))
        let thread = Thread {
            // Writes to a socket the peer closed raise SIGPIPE; blocked here, they return EPIPE instead.
            var set = sigset_t()
            sigemptyset(&set)
            sigaddset(&set, SIGPIPE)
            pthread_sigmask(SIG_BLOCK, &set, nil)
            defer { close(inner) }
            var connection: Connection?
            do {
                connection = try Connection(host: host, port: port, tls: tls, deadline: deadline)
            } catch {
                handshake.finish(error: "\(error)")
                return
            }
            handshake.finish(error: nil)
            if connection?.pump(plain: inner) == .clientClosed { return }
            // The server side ended: close it, show hiredis an end of stream, but keep this end open
            // until hiredis drops its own (a write into a closed socket pair would raise SIGPIPE in
            // hiredis's thread, which may not ignore it).
            connection = nil
            shutdown(inner, Int32(SHUT_WR))
            drainUntilClosed(inner)
        }
        thread.name = "l2met-redis-tls"
        thread.start()
        if let why = handshake.wait() {
            close(pair[0])
            throw StoreError.unavailable("redis \(host):\(port): TLS: \(why)")
        }
        return pair[0]
    }

    /// Reads and discards what hiredis still sends until it closes its end.
    private static func drainUntilClosed(_ fd: Int32) {
        var scratch = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &scratch, scratch.count, 0)
            if n == 0 { return }
            if n < 0 {
                guard errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR else { return }
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                if poll(&p, 1, -1) < 0 && errno != EINTR { return }
            }
        }
    }

    /// How a pump ended.
    private enum PumpEnd { case clientClosed, serverEnded }

    /// The handshake's result, handed from the tunnel thread to the caller of `open`: set once, then
    /// signalled.
    private final class HandshakeOutcome: Sendable {
        private let error = Mutex<String?>(nil)
        private let done = DispatchSemaphore(value: 0)

        func finish(error: String?) {
            self.error.withLock { $0 = error }
            done.signal()
        }

        func wait() -> String? {
            done.wait()
            return error.withLock { $0 }
        }
    }

    /// Why a connect or handshake failed (text for the caller's error).
    private struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ text: String) { description = text }
    }

    /// One TLS connection to Redis, used only by its tunnel thread.
    private final class Connection {
        private let fd: Int32
        private let ssl: OpaquePointer

        init(host: String, port: Int, tls: RedisTLSContext, deadline: ContinuousClock.Instant) throws {
            fd = try Self.connect(host: host, port: port, deadline: deadline)
            guard let ssl = SSL_new(tls.context) else {
                close(fd)
                throw Failure("cannot create a TLS session: \(RedisTLSContext.queuedErrors())")
            }
            self.ssl = ssl
            // Every property is set: if this throws, deinit frees the session and closes the socket.
            try handshake(host: host, verify: tls.verifyCertificate, deadline: deadline)
        }

        deinit {
            SSL_free(ssl)
            close(fd)
        }

        /// Non-blocking TCP connect to the first address of `host` that answers before `deadline`.
        private static func connect(host: String, port: Int, deadline: ContinuousClock.Instant) throws -> Int32 {
            var hints = addrinfo()
            hints.ai_family = AF_UNSPEC
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var list: UnsafeMutablePointer<addrinfo>?
            let rc = getaddrinfo(host, String(port), &hints, &list)
            guard rc == 0, let first = list else {
                throw Failure("cannot resolve \(host): \(String(cString: gai_strerror(rc)))")
            }
            defer { freeaddrinfo(first) }
            var lastError = "no address"
            var next: UnsafeMutablePointer<addrinfo>? = first
            while let ai = next {
                next = ai.pointee.ai_next
                let fd = socket(ai.pointee.ai_family,
                                Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
                if fd < 0 { lastError = String(cString: strerror(errno)); continue }
                if Glibc.connect(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 { return configured(fd) }
                guard errno == EINPROGRESS else {
                    lastError = "connect: \(String(cString: strerror(errno)))"
                    close(fd)
                    continue
                }
                guard wait(fd, events: Int16(POLLOUT), until: deadline) else {
                    close(fd)
                    throw Failure("connect timed out")
                }
                var soError: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &length)
                if soError == 0 { return configured(fd) }
                lastError = "connect: \(String(cString: strerror(soError)))"
                close(fd)
            }
            throw Failure(lastError)
        }

        /// TCP keep-alive (as hiredis sets it on plain connections) and no Nagle delay.
        private static func configured(_ fd: Int32) -> Int32 {
            var on: Int32 = 1
            var idle: Int32 = 15
            setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, socklen_t(MemoryLayout<Int32>.size))
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPIDLE, &idle, socklen_t(MemoryLayout<Int32>.size))
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
            return fd
        }

        private func handshake(host: String, verify: Bool, deadline: ContinuousClock.Instant) throws {
            guard SSL_set_fd(ssl, fd) == 1 else { throw Failure("SSL_set_fd: \(RedisTLSContext.queuedErrors())") }
            let isAddress = Self.isIPAddress(host)
            if !isAddress {
                // SSL_set_tlsext_host_name (a macro): SNI, for hosts behind a TLS router.
                _ = host.withCString {
                    SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, Int(TLSEXT_NAMETYPE_host_name), UnsafeMutableRawPointer(mutating: $0))
                }
            }
            if verify {
                let ok = isAddress ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) : SSL_set1_host(ssl, host)
                guard ok == 1 else { throw Failure("cannot set the name to verify: \(RedisTLSContext.queuedErrors())") }
            }
            // SSL_set_mode (a macro): SSL_write may send part of a buffer, which may move between calls.
            SSL_ctrl(ssl, SSL_CTRL_MODE, Int(SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER), nil)
            ERR_clear_error()
            while true {
                let r = SSL_connect(ssl)
                if r == 1 { return }
                let code = SSL_get_error(ssl, r)
                let events: Int16
                switch code {
                case SSL_ERROR_WANT_READ: events = Int16(POLLIN)
                case SSL_ERROR_WANT_WRITE: events = Int16(POLLOUT)
                default: throw Failure(handshakeFailure(code: code, verify: verify))
                }
                guard Self.wait(fd, events: events, until: deadline) else { throw Failure("handshake timed out (is it a TLS port?)") }
            }
        }

        private func handshakeFailure(code: Int32, verify: Bool) -> String {
            let savedErrno = errno
            if verify {
                let result = SSL_get_verify_result(ssl)
                if result != X509_V_OK {
                    return "certificate verification failed: \(String(cString: X509_verify_cert_error_string(result)))"
                }
            }
            let queued = RedisTLSContext.queuedErrors()
            if !queued.isEmpty { return "handshake failed: \(queued)" }
            if code == SSL_ERROR_SYSCALL && savedErrno != 0 {
                return "handshake failed: \(String(cString: strerror(savedErrno)))"
            }
            return "handshake failed: the server closed the connection (is it a TLS port?)"
        }

        /// Moves bytes between `plain` (hiredis's socket pair end) and the TLS connection until one
        /// side closes or fails. Single-threaded: an `SSL` must not be used by two threads at once.
        func pump(plain: Int32) -> PumpEnd {
            _ = fcntl(plain, F_SETFL, fcntl(plain, F_GETFL) | O_NONBLOCK)
            var toServer = ByteQueue(capacity: 64 * 1024)
            var toClient = ByteQueue(capacity: 64 * 1024)
            // False once the server side closed or failed; what it sent before is still passed on.
            var serverOpen = true
            while true {
                var progress = false
                var serverRead = false, serverWrite = false
                // hiredis -> buffer
                if toServer.space > 0 {
                    let n = toServer.fill { recv(plain, $0, $1, 0) }
                    if n == 0 || (n < 0 && !Self.wouldBlock()) {
                        if serverOpen { _ = SSL_shutdown(ssl) }  // hiredis closed its end: best-effort close_notify
                        return .clientClosed
                    }
                    if n > 0 { progress = true }
                }
                /// One SSL_write or SSL_read: true on progress; otherwise notes what OpenSSL waits for,
                /// or that the server side is closed (close_notify, EOF) or failed.
                func sslStep(_ operation: () -> Int) -> Bool {
                    ERR_clear_error()  // SSL_get_error reads this thread's queue: start it empty
                    let r = operation()
                    if r > 0 { return true }
                    switch SSL_get_error(ssl, Int32(r)) {
                    case SSL_ERROR_WANT_READ: serverRead = true
                    case SSL_ERROR_WANT_WRITE: serverWrite = true
                    default: serverOpen = false
                    }
                    return false
                }
                // buffer -> TLS
                if serverOpen && toServer.count > 0 && sslStep({ toServer.drain { SSL_write(ssl, $0, Int32($1)) } }) {
                    progress = true
                }
                // TLS -> buffer
                if serverOpen && toClient.space > 0 && sslStep({ toClient.fill { SSL_read(ssl, $0, Int32($1)) } }) {
                    progress = true
                }
                // buffer -> hiredis
                if toClient.count > 0 {
                    let n = toClient.drain { send(plain, $0, $1, Int32(MSG_NOSIGNAL)) }
                    if n > 0 { progress = true } else if n == 0 || !Self.wouldBlock() { return .clientClosed }
                }
                if !serverOpen && toClient.count == 0 { return .serverEnded }
                if progress { continue }
                var plainEvents: Int16 = 0
                if toServer.space > 0 { plainEvents |= Int16(POLLIN) }
                if toClient.count > 0 { plainEvents |= Int16(POLLOUT) }
                var serverEvents: Int16 = 0
                if serverOpen && serverRead { serverEvents |= Int16(POLLIN) }
                if serverOpen && serverWrite { serverEvents |= Int16(POLLOUT) }
                var fds = [pollfd(fd: plain, events: plainEvents, revents: 0),
                           pollfd(fd: serverEvents == 0 ? -1 : fd, events: serverEvents, revents: 0)]
                if poll(&fds, 2, -1) < 0 && errno != EINTR { return .serverEnded }
            }
        }

        private static func wouldBlock() -> Bool { errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR }

        /// Polls `fd` for `events` until `deadline`; false when the deadline passed first.
        private static func wait(_ fd: Int32, events: Int16, until deadline: ContinuousClock.Instant) -> Bool {
            while true {
                let ms = Int32(max(0, min(Double(Int32.max), (deadline - ContinuousClock.now).inSeconds * 1000)).rounded(.up))
                if ms <= 0 { return false }
                var p = pollfd(fd: fd, events: events, revents: 0)
                let r = poll(&p, 1, ms)
                if r > 0 { return true }  // ready, or an error the next call reports
                if r < 0 && errno != EINTR { return true }
            }
        }

        private static func isIPAddress(_ host: String) -> Bool {
            var v4 = in_addr(), v6 = in6_addr()
            return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
        }
    }

    /// A fixed buffer bytes go into at the tail and out of at the head.
    private struct ByteQueue {
        private var storage: UnsafeMutableRawPointer
        private let capacity: Int
        private var head = 0, tail = 0
        private let owner: Owner

        /// Frees the buffer when the last copy of the queue goes.
        private final class Owner {
            let pointer: UnsafeMutableRawPointer
            init(_ pointer: UnsafeMutableRawPointer) { self.pointer = pointer }
            deinit { pointer.deallocate() }
        }

        init(capacity: Int) {
            self.capacity = capacity
            storage = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
            owner = Owner(storage)
        }

        var count: Int { tail - head }
        var space: Int { capacity - count }

        /// `read(pointer, room)` returns bytes written there (> 0) or 0 / a negative status, returned as is.
        mutating func fill<N: BinaryInteger>(_ read: (UnsafeMutableRawPointer, Int) -> N) -> Int {
            if tail == capacity && head > 0 {
                storage.copyMemory(from: storage + head, byteCount: count)
                tail -= head
                head = 0
            }
            let n = Int(read(storage + tail, capacity - tail))
            if n > 0 { tail += n }
            return n
        }

        /// `write(pointer, count)` returns bytes taken (> 0) or 0 / a negative status, returned as is.
        mutating func drain<N: BinaryInteger>(_ write: (UnsafeRawPointer, Int) -> N) -> Int {
            let n = Int(write(storage + head, count))
            if n > 0 {
                head += n
                if head == tail { head = 0; tail = 0 }
            }
            return n
        }
    }
}
