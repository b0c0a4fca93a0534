import Glibc

/// A growable byte queue on malloc'd memory: bytes are appended at the back and consumed at the front.
/// Used for a connection's unparsed input and unsent output; it frees its memory when emptied.
final class ByteBuffer {
    private(set) var base: UnsafeMutablePointer<UInt8>?
    private(set) var capacity = 0
    private(set) var readerIndex = 0
    private(set) var writerIndex = 0

    init() {}
    deinit { free(base) }

    var count: Int { writerIndex - readerIndex }
    var isEmpty: Bool { writerIndex == readerIndex }

    /// The unconsumed bytes (valid until the next mutation).
    var readable: UnsafeRawBufferPointer {
        guard let base else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: base + readerIndex, count: count)
    }

    func consume(_ n: Int) {
        readerIndex += n
        if readerIndex >= writerIndex { reset() }
    }

    /// Empties the buffer and releases its memory.
    func reset() {
        free(base)
        base = nil
        capacity = 0
        readerIndex = 0
        writerIndex = 0
    }

    /// Makes room for `n` more bytes at the back.
    func reserveWritable(_ n: Int) {
        if capacity - writerIndex >= n { return }
        if readerIndex > 0 {
            let live = count
            if live > 0, let base { memmove(base, base + readerIndex, live) }
            readerIndex = 0
            writerIndex = live
            if capacity - writerIndex >= n { return }
        }
        var newCapacity = max(capacity * 2, 1024)
        while newCapacity - writerIndex < n { newCapacity *= 2 }
        guard let grown = realloc(base, newCapacity) else { fatalError("out of memory") }
        base = grown.assumingMemoryBound(to: UInt8.self)
        capacity = newCapacity
    }

    func append(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0, let src = bytes.baseAddress else { return }
        reserveWritable(bytes.count)
        memcpy(base! + writerIndex, src, bytes.count)
        writerIndex += bytes.count
    }
}

/// A fixed-capacity scratch area a worker serializes responses into before `send`.
struct OutputWriter {
    let base: UnsafeMutablePointer<UInt8>
    let capacity: Int
    var count = 0
    /// Bytes that did not fit in the scratch area (large responses), written after it.
    var overflow: [UInt8] = []

    init(base: UnsafeMutablePointer<UInt8>, capacity: Int) {
        self.base = base
        self.capacity = capacity
    }

    @inline(__always)
    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        if overflow.isEmpty && count + bytes.count <= capacity {
            memcpy(base + count, bytes.baseAddress!, bytes.count)
            count += bytes.count
        } else {
            overflow.append(contentsOf: bytes)
        }
    }

    mutating func append(_ string: StaticString) {
        append(UnsafeRawBufferPointer(start: string.utf8Start, count: string.utf8CodeUnitCount))
    }

    mutating func append(_ string: String) {
        var s = string
        s.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }

    mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    mutating func appendDecimal(_ value: Int) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &digits) { p in
            var v = UInt(max(0, value))
            var i = p.count
            repeat {
                i -= 1
                p[i] = UInt8(ascii: "0") + UInt8(v % 10)
                v /= 10
            } while v > 0
            append(UnsafeRawBufferPointer(rebasing: p[i...]))
        }
    }
}
