/// Body framing for one request whose head is already parsed, apart from sockets and time-outs: a
/// `Content-Length` body or the chunked transfer coding (hex sizes, extensions ignored, trailers read
/// and discarded), gunzipped when the head said `Content-Encoding: gzip`, within `maxBodyBytes`.
///
/// Push bytes in with `feed` as they arrive; body bytes are appended to a buffer the caller owns. The
/// decoder keeps no input of its own: when it stops at an incomplete line it reports how much it used,
/// and the caller gives the rest again together with the next bytes. What follows a complete body
/// (a pipelined request) is never consumed.
struct HTTPBodyDecoder {
    /// What one call to `feed` did.
    enum Step: Equatable {
        /// Used the first `consumed` bytes and needs more input: the bytes after them (part of a chunk
        /// size line, of a trailer line or of a chunk's CRLF) must be given again, with what follows.
        case needMore(consumed: Int)
        /// Used the first `consumed` bytes, some of them body bytes now appended to the caller's buffer
        /// (the caller may check the buffer's memory here); call again with the rest, even if empty.
        case appended(consumed: Int)
        /// The body is complete after `consumed` bytes; the rest belongs to the next request.
        case complete(consumed: Int)
        /// The request is refused with this status (400, 413, 431) and reason; stop feeding.
        case rejected(RequestRejection)
    }

    private enum State {
        /// No body, or the last body bytes were appended: the next `feed` completes.
        case done
        /// `remaining` bytes of a `Content-Length` body to come.
        case identity
        case chunkSize
        /// `remaining` bytes of the current chunk to come.
        case chunkData
        /// The CRLF after a chunk's data.
        case chunkDataEnd
        case trailers
        /// Refused; stays so until the next `begin`.
        case failed
    }

    /// Largest decoded body (after de-chunking and gunzipping), and largest total of chunk data on the wire.
    let maxBodyBytes: Int
    /// Largest sum of trailer lines (the server uses its head limit).
    let maxTrailerBytes: Int
    /// Longest chunk size line, extensions included.
    let maxChunkLine: Int

    private var state = State.done
    private var gzip = false
    private var remaining = 0
    private var chunkDataTotal = 0
    private var trailerBytes = 0
    /// Body bytes as received, chunk framing included (since `begin`).
    private(set) var wireBytes = 0
    /// The zlib state used for gzip bodies; kept across requests (the caller may pool it, see `takeInflater`).
    var inflater: GzipInflater?

    init(maxBodyBytes: Int, maxTrailerBytes: Int, maxChunkLine: Int = 4096) {
        self.maxBodyBytes = maxBodyBytes
        self.maxTrailerBytes = maxTrailerBytes
        self.maxChunkLine = maxChunkLine
    }

    /// Starts the body of a request with this framing. A request with neither framing (or length 0) has
    /// no body: the first `feed` completes at once. Returns a refusal (413 for a declared length past the
    /// limit, 500 when zlib cannot start) or nil.
    mutating func begin(chunked: Bool, contentLength: Int?, gzip: Bool) -> RequestRejection? {
        self.gzip = gzip
        remaining = 0
        chunkDataTotal = 0
        trailerBytes = 0
        wireBytes = 0
        state = .done
        if gzip {
            if inflater == nil { inflater = GzipInflater() }
            guard inflater!.reset() else {
                state = .failed
                return RequestRejection(500, "cannot start gzip decoding")
            }
        }
        if chunked {
            state = .chunkSize
        } else if let length = contentLength, length > 0 {
            if length > maxBodyBytes {
                state = .failed
                return RequestRejection(413, tooLarge)
            }
            remaining = length
            state = .identity
        }
        return nil
    }

    /// Starts with the framing a parsed head asks for.
    mutating func begin(_ head: RequestHead) -> RequestRejection? {
        begin(chunked: head.chunked, contentLength: head.contentLength, gzip: head.gzip)
    }

    /// Back to no body (the inflater is kept).
    mutating func reset() {
        state = .done
        gzip = false
        remaining = 0
        chunkDataTotal = 0
        trailerBytes = 0
        wireBytes = 0
    }

    /// The body has no more bytes to read: the next `feed` completes (or refuses a truncated gzip body).
    var awaitsCompletion: Bool {
        if case .done = state { return true }
        return false
    }

    /// Gives the inflater up (for a pool); the decoder makes a new one if a later body needs it.
    mutating func takeInflater() -> GzipInflater? {
        defer { inflater = nil }
        return inflater
    }

    private var tooLarge: String { "the body is larger than \(maxBodyBytes) bytes" }

    private mutating func fail(_ status: Int, _ message: String) -> Step {
        state = .failed
        return .rejected(RequestRejection(status, message))
    }

    /// Reads framing and body from `bytes`, appending body bytes to `body` (which must hold only this
    /// body's earlier bytes). Returns after body bytes were appended, at the end of the body, when more
    /// input is needed, or at a refusal; see `Step`.
    mutating func feed(_ bytes: UnsafeRawBufferPointer, into body: inout [UInt8]) -> Step {
        let count = bytes.count
        var offset = 0
        while true {
            switch state {
            case .done:
                if gzip && wireBytes > 0 && !(inflater?.atMemberEnd ?? false) {
                    return fail(400, "malformed gzip body: truncated")
                }
                return .complete(consumed: offset)

            case .failed:
                return .rejected(RequestRejection(400, "the body was already refused"))

            case .identity, .chunkData:
                let take = min(remaining, count - offset)
                if take == 0 { return .needMore(consumed: offset) }
                if let refusal = append(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + take)]), to: &body) {
                    return refusal
                }
                wireBytes += take
                offset += take
                remaining -= take
                if remaining == 0 {
                    if case .identity = state { state = .done } else { state = .chunkDataEnd }
                }
                return .appended(consumed: offset)

            case .chunkSize:
                let limit = min(count, offset + maxChunkLine)
                guard let lf = RequestHeadParser.memchrLF(UnsafeRawBufferPointer(rebasing: bytes[..<limit]), offset) else {
                    if count - offset >= maxChunkLine { return fail(400, "chunk size line too long") }
                    return .needMore(consumed: offset)
                }
                guard let size = HTTPBodyDecoder.parseChunkSize(UnsafeRawBufferPointer(rebasing: bytes[offset..<lf])) else {
                    return fail(400, "malformed chunk size")
                }
                wireBytes += lf + 1 - offset
                offset = lf + 1
                if size == 0 {
                    state = .trailers
                } else {
                    chunkDataTotal += size
                    if chunkDataTotal > maxBodyBytes { return fail(413, tooLarge) }
                    remaining = size
                    state = .chunkData
                }

            case .chunkDataEnd:
                if offset == count { return .needMore(consumed: offset) }
                if bytes[offset] == 10 {
                    offset += 1
                    wireBytes += 1
                    state = .chunkSize
                } else if bytes[offset] == 13 {
                    if offset + 1 == count { return .needMore(consumed: offset) }
                    guard bytes[offset + 1] == 10 else { return fail(400, "malformed chunk: data longer than its size") }
                    offset += 2
                    wireBytes += 2
                    state = .chunkSize
                } else {
                    return fail(400, "malformed chunk: data longer than its size")
                }

            case .trailers:
                let room = maxTrailerBytes - trailerBytes
                guard let lf = RequestHeadParser.memchrLF(bytes, offset) else {
                    if count - offset > room { return fail(431, "the trailers are larger than \(maxTrailerBytes) bytes") }
                    return .needMore(consumed: offset)
                }
                let length = lf + 1 - offset
                if length > room { return fail(431, "the trailers are larger than \(maxTrailerBytes) bytes") }
                let empty = length == 1 || (length == 2 && bytes[offset] == 13)
                trailerBytes += length
                wireBytes += length
                offset = lf + 1
                if empty { state = .done }
            }
        }
    }

    /// Appends body bytes (gunzipping if needed); a refusal when the body would pass the limit or the
    /// gzip stream is broken.
    private mutating func append(_ bytes: UnsafeRawBufferPointer, to body: inout [UInt8]) -> Step? {
        if gzip, let inflater {
            switch inflater.inflate(bytes, into: &body, limit: maxBodyBytes) {
            case .ok: return nil
            case .tooLarge: return fail(413, "the decompressed body is larger than \(maxBodyBytes) bytes")
            case .malformed: return fail(400, "malformed gzip body")
            }
        }
        if body.count + bytes.count > maxBodyBytes { return fail(413, tooLarge) }
        body.append(contentsOf: bytes)
        return nil
    }

    /// `1*HEXDIG [ BWS ";" chunk-ext ] [CR]` (the LF already cut off); nil when malformed or past 15 digits.
    static func parseChunkSize(_ line: UnsafeRawBufferPointer) -> Int? {
        var end = line.count
        if end > 0 && line[end - 1] == 13 { end -= 1 }
        var i = 0
        var size = 0
        while i < end, let digit = QueryDecoding.hexValue(line[i]) {
            if i >= 15 { return nil }
            size = size << 4 | Int(digit)
            i += 1
        }
        guard i > 0 else { return nil }
        while i < end && (line[i] == 32 || line[i] == 9) { i += 1 }
        if i == end { return size }
        guard line[i] == UInt8(ascii: ";") else { return nil }
        while i < end {
            let b = line[i]
            if (b < 0x20 && b != 9) || b == 0x7F { return nil }
            i += 1
        }
        return size
    }
}
