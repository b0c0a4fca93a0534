import CZlib

/// gzip (RFC 1952) compression of whole request bodies with zlib: one deflate stream with a gzip
/// wrapper, kept between bodies and reset for each, so a sink pays zlib's set-up once. Invariant: every
/// successful `compress` returns one complete gzip member holding exactly its input. Not thread-safe:
/// each sink (one per outlet worker) has its own.
public final class GzipCompressor {
    private let stream: UnsafeMutablePointer<z_stream>
    private var initialized = false
    private let level: Int32

    /// - Parameter level: zlib's compression level, 0...9; -1 (the default) is zlib's default (6).
    public init(level: Int32 = -1) {
        self.level = level
        stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
    }

    deinit {
        if initialized { deflateEnd(stream) }
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// `input` as one gzip member; nil only when zlib cannot start (out of memory).
    public func compress(_ input: [UInt8]) -> [UInt8]? {
        if initialized {
            guard deflateReset(stream) == Z_OK else { return nil }
        } else {
            // windowBits 15 + 16: a 32 KB window, with the gzip header and trailer instead of zlib's.
            let rc = deflateInit2_(stream, level, Z_DEFLATED, MAX_WBITS + 16, 8, Z_DEFAULT_STRATEGY,
                                   ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
            guard rc == Z_OK else { return nil }
            initialized = true
        }
        // deflateBound is enough for one Z_FINISH call; the gzip wrapper adds 18 bytes zlib's bound may not count.
        let capacity = Int(deflateBound(stream, uLong(input.count))) + 32
        var output = [UInt8](repeating: 0, count: capacity)
        var rc: Int32 = Z_OK
        var produced = 0
        input.withUnsafeBufferPointer { inBuffer in
            output.withUnsafeMutableBufferPointer { outBuffer in
                stream.pointee.next_in = UnsafeMutablePointer(mutating: inBuffer.baseAddress)
                stream.pointee.avail_in = uInt(inBuffer.count)
                stream.pointee.next_out = outBuffer.baseAddress
                stream.pointee.avail_out = uInt(outBuffer.count)
                rc = deflate(stream, Z_FINISH)
                produced = outBuffer.count - Int(stream.pointee.avail_out)
                stream.pointee.next_in = nil
                stream.pointee.next_out = nil
            }
        }
        guard rc == Z_STREAM_END else { return nil }
        output.removeLast(capacity - produced)
        return output
    }
}
