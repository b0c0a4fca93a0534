import CCurlShim
import Foundation
import L2metCore

/// What one HTTP request came to: an answer (any status) or a transport failure.
public struct HTTPPostResult: Sendable {
    /// The status, nil when no answer came (connection refused, time-out, TLS failure, …).
    public var status: Int?
    /// The start of the response body (at most the client's `maxResponseBytes`).
    public var body: [UInt8]
    /// `Retry-After`, in seconds from now (a number of seconds, or an HTTP date), when the answer had one.
    public var retryAfter: Double?
    /// The transport failure, nil when an answer came. Never holds credentials (curl names host and port).
    public var failure: String?
    /// True when the failure was a time-out.
    public var timedOut: Bool
    /// The transport failure as a fixed phrase (`FailureKind`), nil when an answer came. It never holds
    /// request data, so a log line may show it as it is, even when the destination's secrets are too
    /// short to redact and `failure` must be withheld.
    public var failureKind: String?

    public init(status: Int?, body: [UInt8] = [], retryAfter: Double? = nil, failure: String? = nil, timedOut: Bool = false,
                failureKind: String? = nil) {
        self.status = status
        self.body = body
        self.retryAfter = retryAfter
        self.failure = failure
        self.timedOut = timedOut
        self.failureKind = failureKind
    }
}

/// The fixed phrases of `HTTPPostResult.failureKind`, chosen from a libcurl error code and the
/// socket's errno. Invariant: a phrase is one of these constants, never built from request data.
public enum FailureKind {
    public static let connectionRefused = "connection refused"
    public static let couldNotConnect = "could not connect"
    public static let couldNotResolveHost = "could not resolve host"
    public static let couldNotResolveProxy = "could not resolve proxy"
    public static let timedOut = "timed out"
    public static let tlsHandshakeFailed = "TLS handshake failed"
    public static let tlsCertificateNotTrusted = "TLS certificate not trusted"
    public static let connectionReset = "connection reset"
    public static let sendFailed = "send failed"
    public static let receiveFailed = "receive failed"
    public static let emptyReply = "empty reply"
    public static let malformedReply = "malformed reply"
    public static let aborted = "aborted"
    public static let badURL = "malformed or unsupported URL"
    public static let other = "other transport error"

    /// The phrase for libcurl's `code` (a `CURLcode`) with `osErrno` (`CURLINFO_OS_ERRNO`, 0 if none).
    public static func phrase(curlCode code: Int, osErrno: Int) -> String {
        switch code {
        case 1, 3: return badURL                               // UNSUPPORTED_PROTOCOL, URL_MALFORMAT
        case 5: return couldNotResolveProxy                    // COULDNT_RESOLVE_PROXY
        case 6: return couldNotResolveHost                     // COULDNT_RESOLVE_HOST
        case 7: return osErrno == Int(ECONNREFUSED) ? connectionRefused : couldNotConnect  // COULDNT_CONNECT
        case 8: return malformedReply                          // WEIRD_SERVER_REPLY
        case 28: return timedOut                               // OPERATION_TIMEDOUT
        case 35, 58, 59, 66, 80, 90, 91: return tlsHandshakeFailed  // SSL_CONNECT_ERROR, CERTPROBLEM, CIPHER, ENGINE_INITFAILED, SHUTDOWN_FAILED, PINNEDPUBKEYNOTMATCH, INVALIDCERTSTATUS
        case 60, 77, 83: return tlsCertificateNotTrusted       // PEER_FAILED_VERIFICATION, CACERT_BADFILE, SSL_ISSUER_ERROR
        case 42: return aborted                                // ABORTED_BY_CALLBACK
        case 52: return emptyReply                             // GOT_NOTHING
        case 55: return osErrno == Int(ECONNRESET) || osErrno == Int(EPIPE) ? connectionReset : sendFailed  // SEND_ERROR
        case 56: return osErrno == Int(ECONNRESET) ? connectionReset : receiveFailed  // RECV_ERROR
        case 18: return receiveFailed                          // PARTIAL_FILE: the answer was cut short
        default: return other
        }
    }
}

/// A blocking HTTP client on one libcurl easy handle, reused between requests so connections are kept
/// alive. Not thread-safe: each outlet worker has its own.
public final class CurlHTTPClient {
    private let handle: UnsafeMutableRawPointer
    private let state = TransferState()
    private let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
    public let userAgent: String
    public let connectTimeout: Double
    public let requestTimeout: Double
    public let maxResponseBytes: Int

    /// `curl_global_init`, once per process, before the first handle.
    private static let globalInit: Void = { _ = l2met_curl_global_init_all() }()

    /// - Parameters:
    ///   - connectTimeout: seconds to establish a connection.
    ///   - requestTimeout: seconds for a whole request (the default of `post`).
    ///   - abort: checked while a transfer runs; returning true aborts it (reported as a failure).
    public init(userAgent: String, connectTimeout: Double, requestTimeout: Double, maxResponseBytes: Int = 4096,
                abort: (@Sendable () -> Bool)? = nil) {
        _ = Self.globalInit
        guard let h = curl_easy_init() else { fatalError("curl_easy_init failed: out of memory") }
        handle = h
        self.userAgent = userAgent
        self.connectTimeout = connectTimeout
        self.requestTimeout = requestTimeout
        self.maxResponseBytes = maxResponseBytes
        state.maxBody = maxResponseBytes
        state.abort = abort
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        let context = Unmanaged.passUnretained(state).toOpaque()
        l2met_curl_setopt_long(h, CURLOPT_NOSIGNAL, 1)
        l2met_curl_setopt_long(h, CURLOPT_TCP_KEEPALIVE, 1)
        l2met_curl_setopt_long(h, CURLOPT_FOLLOWLOCATION, 0)
        l2met_curl_setopt_long(h, CURLOPT_CONNECTTIMEOUT_MS, Self.millis(connectTimeout))
        l2met_curl_setopt_string(h, CURLOPT_USERAGENT, userAgent)
        l2met_curl_setopt_pointer(h, CURLOPT_ERRORBUFFER, errorBuffer)
        l2met_curl_setopt_write_callback(h, CURLOPT_WRITEFUNCTION, curlWriteBody)
        l2met_curl_setopt_pointer(h, CURLOPT_WRITEDATA, context)
        l2met_curl_setopt_write_callback(h, CURLOPT_HEADERFUNCTION, curlWriteHeader)
        l2met_curl_setopt_pointer(h, CURLOPT_HEADERDATA, context)
        if abort != nil {
            l2met_curl_setopt_xferinfo_callback(h, curlProgress)
            l2met_curl_setopt_pointer(h, CURLOPT_XFERINFODATA, context)
            l2met_curl_setopt_long(h, CURLOPT_NOPROGRESS, 0)
        }
    }

    deinit {
        curl_easy_cleanup(handle)
        errorBuffer.deallocate()
    }

    /// POSTs `body` to `url` with `headers` (`User-Agent` is the client's own; `Expect` is turned off).
    /// `timeout` (seconds) bounds the whole request; default `requestTimeout`.
    public func post(url: String, headers: [(String, String)], body: [UInt8], timeout: Double? = nil) -> HTTPPostResult {
        state.reset()
        errorBuffer[0] = 0
        let h = handle
        var list: UnsafeMutablePointer<curl_slist>?
        for (name, value) in headers { list = curl_slist_append(list, "\(name): \(value)") }
        list = curl_slist_append(list, "Expect:")
        defer { curl_slist_free_all(list) }
        l2met_curl_setopt_string(h, CURLOPT_URL, url)
        l2met_curl_setopt_pointer(h, CURLOPT_HTTPHEADER, list)
        l2met_curl_setopt_long(h, CURLOPT_POST, 1)
        l2met_curl_setopt_long(h, CURLOPT_TIMEOUT_MS, Self.millis(min(timeout ?? requestTimeout, requestTimeout)))
        let code: CURLcode = body.withUnsafeBytes { raw in
            // POSTFIELDS is not copied: `raw` stays valid for the whole perform.
            l2met_curl_setopt_off_t(h, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(raw.count))
            l2met_curl_setopt_pointer(h, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: raw.baseAddress ?? UnsafeRawPointer(errorBuffer)))
            let c = curl_easy_perform(h)
            l2met_curl_setopt_pointer(h, CURLOPT_POSTFIELDS, nil)
            return c
        }
        l2met_curl_setopt_pointer(h, CURLOPT_HTTPHEADER, nil)
        guard code == CURLE_OK else {
            let detail = String(cString: errorBuffer)
            let message = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
            var osErrno = 0
            l2met_curl_getinfo_long(h, CURLINFO_OS_ERRNO, &osErrno)
            return HTTPPostResult(status: nil, failure: message, timedOut: code == CURLE_OPERATION_TIMEDOUT,
                                  failureKind: FailureKind.phrase(curlCode: Int(code.rawValue), osErrno: osErrno))
        }
        var status = 0
        l2met_curl_getinfo_long(h, CURLINFO_RESPONSE_CODE, &status)
        return HTTPPostResult(status: status, body: state.body, retryAfter: state.retryAfter)
    }

    static func millis(_ seconds: Double) -> Int {
        Int(max(1, min(seconds, 86_400) * 1000).rounded(.up))
    }
}

/// What the callbacks of one transfer collect.
final class TransferState {
    var body: [UInt8] = []
    var maxBody = 4096
    var retryAfter: Double?
    var abort: (@Sendable () -> Bool)?

    func reset() {
        body.removeAll(keepingCapacity: true)
        retryAfter = nil
    }

    /// One header line (curl hands them one at a time, with the CRLF; a new response's status line
    /// starts over, so only the final response's headers count).
    func header(_ line: UnsafeRawBufferPointer) {
        if line.starts(with: "HTTP/".utf8) {
            retryAfter = nil
            return
        }
        let name = "retry-after:"
        guard line.count > name.utf8.count else { return }
        for (i, c) in name.utf8.enumerated() where line[i] | 0x20 != c | 0x20 { return }
        let value = String(decoding: line[name.utf8.count...], as: UTF8.self)
        retryAfter = RetryAfter.seconds(value, now: WallClock.epochSeconds())  // an HTTP date is wall time
    }
}

private let curlWriteBody: curl_write_callback = { data, size, count, context in
    let n = size * count
    guard let context, let data else { return n }
    let state = Unmanaged<TransferState>.fromOpaque(context).takeUnretainedValue()
    let room = state.maxBody - state.body.count
    if room > 0 {
        state.body.append(contentsOf: UnsafeRawBufferPointer(start: data, count: min(room, n)))
    }
    return n  // read (and drop) the rest so the connection stays usable
}

private let curlWriteHeader: curl_write_callback = { data, size, count, context in
    let n = size * count
    guard let context, let data else { return n }
    Unmanaged<TransferState>.fromOpaque(context).takeUnretainedValue()
        .header(UnsafeRawBufferPointer(start: data, count: n))
    return n
}

private let curlProgress: curl_xferinfo_callback = { context, _, _, _, _ in
    guard let context else { return 0 }
    let state = Unmanaged<TransferState>.fromOpaque(context).takeUnretainedValue()
    return (state.abort?() ?? false) ? 1 : 0
}
