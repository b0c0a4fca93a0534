import Glibc

/// The Linux calls the `Glibc` module does not import (`epoll`, `eventfd`, `accept4`: GNU or
/// Linux-only headers), looked up once with `dlsym` and called through C function pointers.
enum LinuxSystemCalls {
    typealias EpollCreate1 = @convention(c) (Int32) -> Int32
    typealias EpollCtl = @convention(c) (Int32, Int32, Int32, UnsafeMutableRawPointer?) -> Int32
    typealias EpollWait = @convention(c) (Int32, UnsafeMutableRawPointer?, Int32, Int32) -> Int32
    typealias Accept4 = @convention(c) (Int32, UnsafeMutablePointer<sockaddr>?, UnsafeMutablePointer<socklen_t>?, Int32) -> Int32
    typealias EventFD = @convention(c) (UInt32, Int32) -> Int32

    static let epollCreate1: EpollCreate1 = symbol("epoll_create1")
    static let epollCtl: EpollCtl = symbol("epoll_ctl")
    static let epollWait: EpollWait = symbol("epoll_wait")
    static let accept4: Accept4 = symbol("accept4")
    static let eventfd: EventFD = symbol("eventfd")

    // Linux ABI constants (stable, identical on every architecture).
    static let EPOLLIN: UInt32 = 0x001
    static let EPOLLOUT: UInt32 = 0x004
    static let EPOLLERR: UInt32 = 0x008
    static let EPOLLHUP: UInt32 = 0x010
    static let EPOLL_CTL_ADD: Int32 = 1
    static let EPOLL_CTL_DEL: Int32 = 2
    static let EPOLL_CTL_MOD: Int32 = 3
    static let EPOLL_CLOEXEC: Int32 = 0o2000000
    static let SOCK_NONBLOCK: Int32 = 0o4000
    static let SOCK_CLOEXEC: Int32 = 0o2000000
    static let EFD_NONBLOCK: Int32 = 0o4000
    static let EFD_CLOEXEC: Int32 = 0o2000000

    /// `struct epoll_event` is packed (12 bytes) on x86_64 and naturally aligned (16) elsewhere.
    #if arch(x86_64)
    static let epollEventSize = 12
    static let epollDataOffset = 4
    #else
    static let epollEventSize = 16
    static let epollDataOffset = 8
    #endif

    private static func symbol<T>(_ name: String) -> T {
        guard let pointer = dlsym(nil, name) else { fatalError("libc has no \(name)") }
        return unsafeBitCast(pointer, to: T.self)
    }

    /// `epoll_ctl` with `data` = the file descriptor.
    @discardableResult
    static func control(_ epoll: Int32, _ op: Int32, fd: Int32, events: UInt32) -> Int32 {
        var raw = (UInt64(0), UInt64(0))
        return withUnsafeMutableBytes(of: &raw) { p in
            p.storeBytes(of: events, toByteOffset: 0, as: UInt32.self)
            p.storeBytes(of: UInt64(UInt32(bitPattern: fd)), toByteOffset: epollDataOffset, as: UInt64.self)
            return epollCtl(epoll, op, fd, p.baseAddress)
        }
    }
}

/// `errno` as a short readable text.
func errnoText(_ code: Int32 = errno) -> String {
    String(cString: strerror(code))
}
