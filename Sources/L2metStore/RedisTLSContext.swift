import COpenSSL

/// The OpenSSL client settings of a `rediss://` store, shared by all its tunnels: TLS 1.2 or later,
/// and certificate verification (system CA store + host name) only when the URL asks for it.
///
/// `@unchecked Sendable`: it holds an OpenSSL `SSL_CTX` pointer, which the compiler cannot check;
/// the context is configured in `init` and only read afterwards (OpenSSL allows one `SSL_CTX` to
/// make `SSL` objects on several threads at once).
final class RedisTLSContext: @unchecked Sendable {
    /// The `SSL_CTX`; read-only once built, so tunnels on several threads may share it.
    let context: OpaquePointer
    let verifyCertificate: Bool

    init(verifyCertificate: Bool) throws {
        guard let ctx = SSL_CTX_new(TLS_client_method()) else {
            throw StoreError.unavailable("TLS: cannot create an OpenSSL context: \(Self.queuedErrors())")
        }
        // SSL_CTX_set_min_proto_version is a macro over SSL_CTX_ctrl.
        guard SSL_CTX_ctrl(ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, Int(TLS1_2_VERSION), nil) == 1 else {
            SSL_CTX_free(ctx)
            throw StoreError.unavailable("TLS: cannot require TLS 1.2: \(Self.queuedErrors())")
        }
        if verifyCertificate {
            guard SSL_CTX_set_default_verify_paths(ctx) == 1 else {
                SSL_CTX_free(ctx)
                throw StoreError.unavailable("TLS: cannot load the system CA certificates: \(Self.queuedErrors())")
            }
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
        } else {
            SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nil)
        }
        context = ctx
        self.verifyCertificate = verifyCertificate
    }

    deinit { SSL_CTX_free(context) }

    /// Empties this thread's OpenSSL error queue into one line ("" when it was empty).
    static func queuedErrors() -> String {
        var texts: [String] = []
        while case let code = ERR_get_error(), code != 0 {
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            texts.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return texts.joined(separator: "; ")
    }
}
