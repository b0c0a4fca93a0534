import CHiredis
import Foundation

/// An I/O failure on an established connection: the command may or may not have run.
struct RedisIOError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// One blocking hiredis connection: connected, authenticated and on its database. Not thread-safe;
/// `RedisConnectionPool` hands it to one caller at a time. After an I/O error it is `broken` and
/// must be dropped.
final class RedisConnection {
    private let context: UnsafeMutablePointer<redisContext>
    private let endpoint: String
    private(set) var broken = false

    /// Connects (for `rediss://` through a `RedisTLSTunnel`, with `tls` or a context made for this
    /// connection alone), then AUTH and SELECT as `url` says. Throws `StoreError.unavailable`;
    /// messages name the host and port, never the password.
    init(url: RedisURL, connectTimeout: Double, commandTimeout: Double, tls: RedisTLSContext? = nil) throws {
        endpoint = "\(url.host):\(url.port)"
        let connected: UnsafeMutablePointer<redisContext>?
        if url.tls {
            let context = try tls ?? RedisTLSContext(verifyCertificate: url.verifyCertificate)
            let fd = try RedisTLSTunnel.open(host: url.host, port: url.port, tls: context, timeout: connectTimeout)
            connected = redisConnectFd(fd)
            if connected == nil { close(fd) }
        } else {
            connected = redisConnectWithTimeout(url.host, Int32(url.port), Self.timeval(connectTimeout))
        }
        guard let ctx = connected else {
            throw StoreError.unavailable("redis \(endpoint): cannot allocate a connection")
        }
        if ctx.pointee.err != 0 {
            let why = Self.errorText(ctx)
            redisFree(ctx)
            throw StoreError.unavailable("redis \(endpoint): connect: \(why)")
        }
        context = ctx
        _ = redisSetTimeout(ctx, Self.timeval(commandTimeout))
        // A tunnel's end is a Unix socket (TCP options would fail); the tunnel sets keep-alive on its TCP socket.
        if !url.tls { _ = redisEnableKeepAlive(ctx) }
        do {
            try authenticate(url)
            if url.database != 0 {
                let r = try pipeline([RedisCommand("SELECT", String(url.database))])[0]
                if let e = r.errorText { throw StoreError.unavailable("redis \(endpoint): SELECT \(url.database): \(e)") }
            }
        } catch let e as RedisIOError {
            throw StoreError.unavailable("redis \(endpoint): \(e.message)")
        }
    }

    deinit { redisFree(context) }

    private func authenticate(_ url: RedisURL) throws {
        guard let password = url.password else { return }
        if let user = url.user {
            let r = try pipeline([RedisCommand("AUTH", user, password)])[0]
            guard let e = r.errorText else { return }
            // `redis://h:secret@host` (a user name that is no ACL user, as older Heroku URLs had) or a
            // Redis before 6: try the password alone before giving up.
            let plain = try pipeline([RedisCommand("AUTH", password)])[0]
            if plain.errorText != nil { throw StoreError.unavailable("redis \(endpoint): authentication refused: \(e)") }
        } else {
            let r = try pipeline([RedisCommand("AUTH", password)])[0]
            if let e = r.errorText { throw StoreError.unavailable("redis \(endpoint): authentication refused: \(e)") }
        }
    }

    /// Sends every command, then reads one reply for each (pipelining). Error replies come back as
    /// `.error`; an I/O failure (or time-out) throws `RedisIOError` and breaks the connection.
    func pipeline(_ commands: [RedisCommand]) throws -> [RedisReply] {
        guard !broken else { throw RedisIOError(message: "connection already broken") }
        for command in commands {
            let status: Int32 = command.bytes.withUnsafeBufferPointer { buf in
                command.lengths.withUnsafeBufferPointer { lens in
                    var argv: [UnsafePointer<CChar>?] = []
                    argv.reserveCapacity(lens.count)
                    let base = UnsafeRawPointer(buf.baseAddress) ?? UnsafeRawPointer(bitPattern: 1)!
                    var offset = 0
                    // hiredis reads `len` bytes from each pointer; an empty argument still needs a pointer.
                    let empty = UnsafeRawPointer(("" as StaticString).utf8Start)
                    for n in lens {
                        let p = n == 0 ? empty : base + offset
                        argv.append(p.assumingMemoryBound(to: CChar.self))
                        offset += n
                    }
                    return argv.withUnsafeMutableBufferPointer { av in
                        redisAppendCommandArgv(context, Int32(lens.count), av.baseAddress, lens.baseAddress)
                    }
                }
            }
            if status != REDIS_OK { throw fail("send") }
        }
        var replies: [RedisReply] = []
        replies.reserveCapacity(commands.count)
        for _ in commands {
            var raw: UnsafeMutableRawPointer?
            if redisGetReply(context, &raw) != REDIS_OK { throw fail("read") }
            guard let raw else { throw fail("read") }
            let reply = raw.assumingMemoryBound(to: redisReply.self)
            replies.append(RedisReply(reply))
            freeReplyObject(raw)
        }
        return replies
    }

    private func fail(_ what: String) -> RedisIOError {
        broken = true
        return RedisIOError(message: "\(what): \(Self.errorText(context))")
    }

    private static func errorText(_ ctx: UnsafeMutablePointer<redisContext>) -> String {
        var errstr = ctx.pointee.errstr
        let text = withUnsafeBytes(of: &errstr) { raw -> String in
            let bytes = raw.prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
        if text.isEmpty || text == "Resource temporarily unavailable" {
            return ctx.pointee.err == REDIS_ERR_IO && text.isEmpty ? "I/O error" : "timed out"
        }
        return text
    }

    private static func timeval(_ seconds: Double) -> Glibc.timeval {
        let s = max(0.001, seconds)
        return Glibc.timeval(tv_sec: Int(s), tv_usec: Int((s - s.rounded(.down)) * 1_000_000))
    }
}
