import CZlib

/// Streaming gunzip (zlib, gzip wrapper, concatenated members allowed) into a byte array that may not
/// grow past a limit: a gzip bomb stops at the limit, never allocating beyond it.
final class GzipInflater {
    enum Outcome { case ok, tooLarge, malformed }

    private let stream: UnsafeMutablePointer<z_stream>
    private var initialized = false
    /// The current member reached its end (the body may end here).
    private(set) var atMemberEnd = false

    init() {
        stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
    }

    deinit {
        if initialized { inflateEnd(stream) }
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Starts a new body.
    func reset() -> Bool {
        atMemberEnd = false
        if initialized { return inflateReset(stream) == Z_OK }
        let rc = inflateInit2_(stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        initialized = rc == Z_OK
        return initialized
    }

    /// Inflates `input`, appending to `output`, which must stay within `limit` bytes.
    func inflate(_ input: UnsafeRawBufferPointer, into output: inout [UInt8], limit: Int) -> Outcome {
        guard input.count > 0, let inBase = input.baseAddress else { return .ok }
        var offset = 0
        while true {
            if atMemberEnd {
                if offset >= input.count { return .ok }
                // Another gzip member follows.
                guard inflateReset(stream) == Z_OK else { return .malformed }
                atMemberEnd = false
            }
            if output.count >= limit + 1 { return .tooLarge }
            let room = min(max(16 * 1024, output.count), limit + 1 - output.count)
            let before = output.count
            var rc: Int32 = Z_OK
            var consumed = 0
            var produced = 0
            output.append(contentsOf: repeatElement(0, count: room))
            output.withUnsafeMutableBufferPointer { out in
                stream.pointee.next_in = UnsafeMutablePointer(mutating: inBase.assumingMemoryBound(to: UInt8.self) + offset)
                stream.pointee.avail_in = UInt32(min(input.count - offset, Int(UInt32.max)))
                stream.pointee.next_out = out.baseAddress! + before
                stream.pointee.avail_out = UInt32(room)
                let availIn = stream.pointee.avail_in
                rc = CZlib.inflate(stream, Z_NO_FLUSH)
                consumed = Int(availIn - stream.pointee.avail_in)
                produced = room - Int(stream.pointee.avail_out)
            }
            output.removeLast(room - produced)
            offset += consumed
            switch rc {
            case Z_OK:
                break
            case Z_STREAM_END:
                atMemberEnd = true
            case Z_BUF_ERROR:
                // No progress: with the input used up, zlib only wants the next piece (the output
                // filled exactly on the last call); with input left, the stream is broken.
                if consumed == 0 && produced == 0 { return offset >= input.count ? .ok : .malformed }
            default:
                return .malformed
            }
            if output.count > limit { return .tooLarge }
            // Done when the input is used up and zlib had room to spare (nothing more pending).
            if offset >= input.count && (produced < room || atMemberEnd) { return .ok }
        }
    }
}
