import Foundation
import Glibc

/// An HTTP/1.1 server on POSIX sockets and epoll: `workers` threads, each with its own `SO_REUSEPORT`
/// listening socket, calling `handler` synchronously for every complete request. Keep-alive,
/// pipelining, chunked and gzip bodies, `Expect: 100-continue`, and the limits of the configuration.
public final class HTTPServer: @unchecked Sendable {
    public let configuration: HTTPServerConfiguration
    private let observer: HTTPServerObserver?
    private let handler: @Sendable (HTTPRequest) -> HTTPResponse
    private let lock = Lock()
    private let table: ConnectionTable
    private let bodyBudget = BodyBudget()
    private var workers: [HTTPWorker] = []
    private var finished: [DispatchSemaphore] = []
    private var port = 0
    private var state = State.created

    private enum State { case created, running, stopped }

    public init(configuration: HTTPServerConfiguration, observer: HTTPServerObserver? = nil,
                handler: @escaping @Sendable (HTTPRequest) -> HTTPResponse) {
        self.configuration = configuration
        self.observer = observer
        self.handler = handler
        table = ConnectionTable(limit: configuration.maxConnections, perPeerLimit: configuration.maxConnectionsPerPeer)
    }

    deinit { stop(gracePeriod: 0) }

    /// The port actually listened on (the ephemeral one when configured with 0); valid after `start()`.
    public var boundPort: Int { lock.withLock { port } }

    /// Open client connections right now.
    public var openConnections: Int { table.current }

    /// Open client connections with no request in progress (the first to be closed under pressure).
    public var idleConnections: Int { table.idleCount }

    /// Bytes of request bodies held in memory right now (arriving, or with the handler).
    public var bufferedBodyBytes: Int { bodyBudget.current }

    /// Binds, listens and starts the worker threads. Throws when the address cannot be used.
    public func start() throws {
        try lock.withLock {
            guard state == .created else { throw HTTPError("the server was already started") }
            let count = max(1, configuration.workers)
            var listeners: [Int32] = []
            do {
                var address = try Self.resolve(host: configuration.host, port: configuration.port)
                if configuration.port != 0 { try Self.checkNotInUse(address) }
                for i in 0..<count {
                    let fd = try Self.listen(on: &address)
                    listeners.append(fd)
                    if i == 0 {
                        port = Self.localPort(fd)
                        Self.setPort(&address, port)
                    }
                }
                for fd in listeners {
                    workers.append(try HTTPWorker(listenFD: fd, configuration: configuration, table: table,
                                                  bodyBudget: bodyBudget, observer: observer, handler: handler))
                }
            } catch {
                // Workers already built own their listener; close the rest by hand.
                for worker in workers { worker.closeDescriptors() }
                if workers.count < listeners.count { for fd in listeners[workers.count...] { close(fd) } }
                workers.removeAll()
                throw error
            }
            for (i, worker) in workers.enumerated() {
                let done = DispatchSemaphore(value: 0)
                finished.append(done)
                // Handed to its thread, which alone runs its loop; what other threads call on it (stop,
                // figures) is thread-safe (see HTTPWorker).
                nonisolated(unsafe) let worker = worker
                let thread = Thread {
                    worker.run()
                    done.signal()
                }
                thread.name = "http-\(i)"
                thread.start()
            }
            state = .running
        }
    }

    /// Stops accepting, lets requests in flight finish and their answers flush, closes idle connections,
    /// and returns once the workers have ended, within `gracePeriod` seconds. Later calls do nothing.
    public func stop(gracePeriod: Double) {
        let (workers, finished): ([HTTPWorker], [DispatchSemaphore]) = lock.withLock {
            guard state == .running else {
                state = .stopped
                return ([], [])
            }
            state = .stopped
            return (self.workers, self.finished)
        }
        guard !workers.isEmpty else { return }
        let grace = max(0, gracePeriod)
        // Keep a little of the grace period for closing sockets and joining threads.
        let deadline = monotonicNanos() + Int64(grace * 0.9 * 1e9)
        for w in workers { w.requestStop(deadline: deadline) }
        let end = DispatchTime.now() + grace + 1
        for done in finished { _ = done.wait(timeout: end) }
    }

    // MARK: - Sockets

    private static func resolve(host: String, port: Int) throws -> sockaddr_storage {
        guard (0...65535).contains(port) else { throw HTTPError("port \(port) is out of range") }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host.isEmpty ? nil : host, "\(port)", &hints, &result)
        guard rc == 0, let first = result else {
            throw HTTPError("cannot resolve listen address \(host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(result) }
        var storage = sockaddr_storage()
        withUnsafeMutableBytes(of: &storage) { dst in
            dst.copyMemory(from: UnsafeRawBufferPointer(start: first.pointee.ai_addr, count: Int(first.pointee.ai_addrlen)))
        }
        return storage
    }

    private static func length(of address: sockaddr_storage) -> socklen_t {
        socklen_t(Int32(address.ss_family) == AF_INET6 ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size)
    }

    private static func setPort(_ address: inout sockaddr_storage, _ port: Int) {
        withUnsafeMutableBytes(of: &address) { p in
            // sin_port and sin6_port sit at the same offset, in network order.
            p.storeBytes(of: UInt16(port).bigEndian, toByteOffset: 2, as: UInt16.self)
        }
    }

    /// `SO_REUSEPORT` lets any process of the same user bind a port that is already listened on, and
    /// the kernel then splits connections between the two: a second l2met started by mistake on a
    /// busy port would silently take half the drains (a local-mode one would take them without
    /// credentials and print them). A probe bound without `SO_REUSEPORT` fails on a port with a
    /// listener, so start-up refuses the port instead. (`SO_REUSEADDR` keeps connections left in
    /// TIME_WAIT by a previous run from getting in the way.)
    private static func checkNotInUse(_ address: sockaddr_storage) throws {
        var address = address
        let fd = socket(Int32(address.ss_family), Int32(SOCK_STREAM.rawValue) | LinuxSystemCalls.SOCK_CLOEXEC, 0)
        guard fd >= 0 else { throw HTTPError("socket: \(errnoText())") }
        defer { close(fd) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let len = length(of: address)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) }
        }
        guard rc == 0 else { throw HTTPError("bind: \(errnoText())") }
    }

    private static func listen(on address: inout sockaddr_storage) throws -> Int32 {
        let fd = socket(Int32(address.ss_family), Int32(SOCK_STREAM.rawValue) | LinuxSystemCalls.SOCK_NONBLOCK
                                                  | LinuxSystemCalls.SOCK_CLOEXEC, 0)
        guard fd >= 0 else { throw HTTPError("socket: \(errnoText())") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<Int32>.size))
        let len = length(of: address)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) }
        }
        guard rc == 0 else {
            let text = errnoText()
            close(fd)
            throw HTTPError("bind: \(text)")
        }
        guard Glibc.listen(fd, 1024) == 0 else {
            let text = errnoText()
            close(fd)
            throw HTTPError("listen: \(text)")
        }
        return fd
    }

    private static func localPort(_ fd: Int32) -> Int {
        var address = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return withUnsafeBytes(of: &address) { Int(UInt16(bigEndian: $0.load(fromByteOffset: 2, as: UInt16.self))) }
    }
}
