import CZlib

/// gzip-compresses `data` with zlib (windowBits 31 = gzip wrapper).
func gzip(_ data: [UInt8], level: Int32 = 6) -> [UInt8] {
    let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
    stream.initialize(to: z_stream())
    defer { stream.deallocate() }
    // Not inside precondition(): release builds use -Ounchecked, which drops the condition entirely.
    let initialized = deflateInit2_(stream, level, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
                                    Int32(MemoryLayout<z_stream>.size))
    if initialized != Z_OK { fatalError("deflateInit2_ failed: \(initialized)") }
    var out = [UInt8](repeating: 0, count: Int(deflateBound(stream, UInt(data.count))) + 64)
    var input = data
    let produced: Int = input.withUnsafeMutableBufferPointer { inp in
        out.withUnsafeMutableBufferPointer { o in
            stream.pointee.next_in = inp.baseAddress
            stream.pointee.avail_in = UInt32(inp.count)
            stream.pointee.next_out = o.baseAddress
            stream.pointee.avail_out = UInt32(o.count)
            let rc = deflate(stream, Z_FINISH)
            if rc != Z_STREAM_END { fatalError("deflate failed: \(rc)") }
            return o.count - Int(stream.pointee.avail_out)
        }
    }
    deflateEnd(stream)
    return Array(out[0..<produced])
}

/// The body as HTTP chunks of `size` bytes, with an extension on the first and a trailer at the end.
func chunked(_ body: [UInt8], size: Int, trailers: Bool = true) -> [UInt8] {
    var out: [UInt8] = []
    var i = 0
    var first = true
    while i < body.count {
        let n = min(size, body.count - i)
        out += Array(String(n, radix: 16).utf8)
        if first { out += Array(";name=\"value\"".utf8); first = false }
        out += [13, 10]
        out += body[i..<(i + n)]
        out += [13, 10]
        i += n
    }
    out += Array("0\r\n".utf8)
    if trailers { out += Array("X-Trailer: yes\r\n".utf8) }
    out += [13, 10]
    return out
}
