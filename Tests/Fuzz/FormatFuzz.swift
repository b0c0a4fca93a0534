// libFuzzer entry over what the server reads besides drain bodies: bucket records read back from
// the store (BucketCodec, BucketKey store keys), `Authorization: Basic` headers, Fernet tokens,
// decrypted plaintexts (Destination), RFC3339 / command-line times, HTTP request heads (and the body after
// a head that parses, through HTTPBodyDecoder) and queries. Built by `scripts/fuzz
// format` together with Sources/L2metCore/*.swift and the Fernet parts of Sources/L2metCrypto as
// one module (not a SwiftPM target). The first byte picks the parser; every parser is checked for
// invariants, not just for not crashing.

private let key = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4="
private let keyring = try! Keyring(secrets: key)
private let authenticator = DrainAuthenticator(keyring: keyring, cacheCapacity: 64)
/// 2009-02-13T23:31:30Z.
private let now: Int64 = 1_234_567_890

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let all = UnsafeRawBufferPointer(start: data, count: size)
    let input = UnsafeRawBufferPointer(rebasing: all[1...])
    let bytes = Array(input)
    let text = String(decoding: input, as: UTF8.self)
    switch all[0] % 10 {
    case 0: checkCodec(bytes)
    case 1: checkStoreKey(text)
    case 2: checkBasic(text, bytes)
    case 3: checkToken(text)
    case 4: checkDestination(text)
    case 5: checkTime(input, text)
    case 6: checkBase64(input, bytes)
    case 7: checkEncrypted(bytes)
    case 8: checkRequestHead(input)
    default: checkQuery(text)
    }
    return 0
}

/// Any bytes: nil, or the merge of whole records, which re-encodes to bytes that decode to the same.
private func checkCodec(_ bytes: [UInt8]) {
    guard let d = BucketCodec.decode(bytes) else { return }
    precondition(!bytes.isEmpty)
    precondition(d.count >= 0)
    if d.kind == .measurement {
        // Exact: every value; a sketch: no values, and exact is only ever within the limit once merged.
        if let sketch = d.sketch {
            precondition(d.values.isEmpty)
            precondition(sketch.positive.counts.count <= QuantileSketch.maxBinsPerSign)
            precondition(sketch.negative.counts.count <= QuantileSketch.maxBinsPerSign)
            precondition(sketch.count == 0 || (sketch.min <= sketch.max))
        } else {
            precondition(d.values.count == d.count)
            precondition(d.values.count <= BucketData.exactLimit)
        }
    } else {
        precondition(d.values.isEmpty && d.sketch == nil)
    }
    // A record's count is 32 bits: a merge of records may pass it (the store only ever appends
    // records of one flush, far below), so only a count that fits is expected back.
    if d.count <= Int(UInt32.max) {
        var again: [UInt8] = []
        BucketCodec.encode(d, into: &again)
        guard let back = BucketCodec.decode(again) else { preconditionFailure("a decoded bucket does not re-encode") }
        precondition(back.kind == d.kind && back.count == d.count && back.values.count == d.values.count)
        precondition(zip(back.values, d.values).allSatisfy { $0.bitPattern == $1.bitPattern })
        precondition(back.sketch?.positive == d.sketch?.positive && back.sketch?.negative == d.sketch?.negative)
        precondition(back.sketch?.count == d.sketch?.count && back.sketch?.zeroCount == d.sketch?.zeroCount)
        if let s = d.sketch, s.count > 0, let b = back.sketch {
            precondition(b.min.bitPattern == s.min.bitPattern && b.max.bitPattern == s.max.bitPattern)
        }
    }
    // A sketch's percentiles lie within [min, max], in order (no hostile count makes them leave it).
    if let sketch = d.sketch, sketch.count > 0 {
        let s = Statistics(d)
        precondition(s.min <= s.median && s.median <= s.perc95 && s.perc95 <= s.perc99 && s.perc99 <= s.max)
    }
    checkSketchOfBytes(bytes)
    // The outlet's use of it never traps, and never writes a non-finite number.
    let key = BucketKey(token: "t", name: "n", source: "", kind: d.kind, units: "", resolution: 60, time: 1_234_567_860)
    for g in LibratoPayload.gauges(for: key, data: d) { precondition(g.isFinite) }
    let json = LibratoPayload.json(LibratoPayload.gauges(for: key, data: d))
    precondition(!String(decoding: json, as: UTF8.self).contains("nan") && !String(decoding: json, as: UTF8.self).contains("inf"))
    if let p = OTLPPayload.dataPoint(for: key, data: d) { precondition(p.isFinite) }
}

/// The bytes as doubles, added to a measurement one by one (past the exact limit when repeated):
/// non-finite ones are ignored by the sketch, and its percentiles are within [min, max], in order.
private func checkSketchOfBytes(_ bytes: [UInt8]) {
    var values: [Double] = []
    var i = 0
    while i + 8 <= bytes.count {
        values.append(bytes.withUnsafeBytes { Double(bitPattern: UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: i, as: UInt64.self))) })
        i += 8
    }
    guard !values.isEmpty else { return }
    var sketch = QuantileSketch()
    var finite = 0
    for _ in 0..<(BucketData.exactLimit / values.count + 1) {
        for v in values {
            sketch.add(v)
            if v.isFinite { finite += 1 }
        }
    }
    precondition(sketch.count == UInt64(finite))
    guard finite > 0 else { return }
    let p = [sketch.min, sketch.percentile(50), sketch.percentile(95), sketch.percentile(99), sketch.max]
    precondition(zip(p, p.dropFirst()).allSatisfy { $0 <= $1 }, "\(p)")
    var bytes: [UInt8] = []
    var d = BucketData(kind: .measurement)
    d.sketch = sketch
    BucketCodec.encode(d, into: &bytes)
    precondition(bytes.count <= BucketCodec.maxSketchRecordSize)
    precondition(BucketCodec.decode(bytes)?.sketch == sketch || sketch.sumSquares.isNaN)
}

/// A store key parses to a key whose store key parses to the same key.
private func checkStoreKey(_ text: String) {
    guard let k = BucketKey(storeKey: text) else { return }
    precondition(BucketKey(storeKey: k.storeKey) == k)
    _ = k.closesAt(deadline: 2)
    _ = k.end
}

/// The user of a Basic header is non-empty text without `:`, and the authenticator never traps.
private func checkBasic(_ text: String, _ bytes: [UInt8]) {
    if let user = BasicAuthorization.user(of: text) {
        precondition(!user.isEmpty && !user.utf8.contains(UInt8(ascii: ":")))
        precondition(text.utf8.count >= 7)
    }
    switch authenticator.authenticate(authorization: text, now: now) {
    case .success(let c): precondition(!c.token.isEmpty)
    case .failure: break
    }
    precondition(authenticator.cachedCount <= 64)
}

/// A token either fails with a FernetError or decrypts to bytes; never a trap.
private func checkToken(_ text: String) {
    do {
        let plain = try keyring.decryptBytes(text, ttl: nil, now: now)
        precondition(plain.count <= text.utf8.count)
    } catch {}
    _ = try? keyring.decryptBytes(text, ttl: Int64.max, now: Int64.max)
    _ = try? keyring.decryptBytes(text, ttl: Int64.min, now: Int64.min)
    _ = try? authenticator.destination(forToken: text, now: now)
}

/// A plaintext that reads as a destination reads back the same from its own plaintext.
private func checkDestination(_ text: String) {
    guard let d = try? Destination(plaintext: text) else { return }
    _ = d.loggableName
    switch d {
    case .librato(let user, let token, _):
        precondition(!user.isEmpty && !token.isEmpty)
        precondition(!hasLineBreak(user) && !hasLineBreak(token), "line break in Librato credentials")
    case .otlp(let url, let headers):
        precondition(url.hasPrefix("http://") || url.hasPrefix("https://"))
        for (name, value) in headers { precondition(!hasLineBreak(name) && !hasLineBreak(value), "line break in a header") }
    case .local:
        preconditionFailure("a plaintext is never local")
    }
    let again = try? Destination(plaintext: d.plaintext)
    precondition(again == d, "\(text) -> \(d) -> \(d.plaintext) -> \(String(describing: again))")
}

private func hasLineBreak(_ s: String) -> Bool { s.utf8.contains { $0 == 0x0A || $0 == 0x0D } }

/// RFC3339: what parses is within years 0...9999 and agrees with the command-line reader.
private func checkTime(_ input: UnsafeRawBufferPointer, _ text: String) {
    let sameText = text.utf8.elementsEqual(input)
    let micros = RFC3339.parseMicros(input)
    if let m = micros {
        precondition(m >= -62_167_219_200_000_000 - 86_400_000_000 && m < 253_402_300_800_000_000 + 86_400_000_000)
    }
    let seconds = TimeArgument.epochSeconds(from: text)
    if let m = micros, sameText {
        let floor = m >= 0 || m % 1_000_000 == 0 ? m / 1_000_000 : m / 1_000_000 - 1
        precondition(seconds == floor)
    }
}

/// Base64: what decodes re-encodes to the same text (canonical), padding aside.
private func checkBase64(_ input: UnsafeRawBufferPointer, _ bytes: [UInt8]) {
    for standard in [false, true] {
        guard let decoded = Base64URL.decode(input, standardAlphabet: standard) else { continue }
        var expected = bytes
        while expected.last == UInt8(ascii: "=") { expected.removeLast() }
        if standard {
            expected = expected.map { $0 == UInt8(ascii: "+") ? UInt8(ascii: "-") : $0 == UInt8(ascii: "/") ? UInt8(ascii: "_") : $0 }
        }
        var encoded = Array(Base64URL.encode(decoded).utf8)
        while encoded.last == UInt8(ascii: "=") { encoded.removeLast() }
        precondition(encoded == expected)
    }
}

/// Any plaintext survives encryption; a flipped byte in its token is refused.
private func checkEncrypted(_ bytes: [UInt8]) {
    let fernet = keyring.keys[0]
    let token = fernet.encrypt(plaintext: bytes, now: now)
    precondition((try? fernet.decrypt(token: token, ttl: 60, now: now)) == bytes)
    var tampered = Array(token.utf8)
    let i = bytes.count % tampered.count
    tampered[i] = tampered[i] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
    if let plain = try? fernet.decrypt(token: String(decoding: tampered, as: UTF8.self), ttl: nil, now: now) {
        // Only a change to bits base64 ignores may survive (there are none in canonical decoding).
        preconditionFailure("a tampered token decrypted to \(plain.count) bytes")
    }
}

/// A request head either is refused with a 4xx/5xx and a reason, or has consistent framing.
private func checkRequestHead(_ input: UnsafeRawBufferPointer) {
    var lineStart = 0
    let end = RequestHeadParser.findEnd(input, from: 0, lineStart: &lineStart)
    if let end {
        precondition(end <= input.count && end >= 2)
        // What follows a head that parses is its body (and maybe the next request).
        if case .success(let head) = RequestHeadParser.parse(UnsafeRawBufferPointer(rebasing: input[..<end])) {
            var seed: UInt64 = 0xcbf2_9ce4_8422_2325
            for b in input { seed = (seed ^ UInt64(b)) &* 0x100_0000_01b3 }
            checkBody(head, UnsafeRawBufferPointer(rebasing: input[end...]), seed: seed)
        }
    }
    switch RequestHeadParser.parse(input) {
    case .failure(let rejection):
        precondition((400...599).contains(rejection.status) && !rejection.message.isEmpty)
    case .success(let head):
        precondition(!(head.chunked && head.contentLength != nil), "both framings")
        if let length = head.contentLength { precondition(length >= 0) }
        precondition(!head.method.isEmpty)
        // Bytes, not Characters: "/" followed by a combining mark is one Character (as a crash of
        // this target showed), and the path still starts with the byte "/".
        precondition(head.path.utf8.first == UInt8(ascii: "/") || head.path.utf8.first == UInt8(ascii: "*"), head.path)
        for h in head.headers {
            precondition(!h.name.isEmpty && !h.name.utf8.contains { $0 >= 0x41 && $0 <= 0x5A })
            precondition(!h.value.utf8.contains { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }, "control byte in a header value")
        }
    }
}

/// The body after a head that parsed, fed to `HTTPBodyDecoder` in one piece and in pieces whose sizes
/// come from the input, with limits from the input: both give the same outcome; no step uses more
/// bytes than it was given; a body never passes the limit; a complete `Content-Length` body is the
/// declared length, and what a complete body used is exactly its wire bytes.
private func checkBody(_ head: RequestHead, _ rest: UnsafeRawBufferPointer, seed: UInt64) {
    var random = seed | 1
    func next() -> UInt64 {
        random ^= random << 13
        random ^= random >> 7
        random ^= random << 17
        return random
    }
    let maxBodyBytes = seed & 1 == 0 ? 1 << 20 : Int(next() % 3000)
    let maxTrailerBytes = Int(next() % 600)
    let maxChunkLine = 1 + Int(next() % 300)
    // At least one piece, so that a request without a body is fed (and completes) too.
    var pieces: [Int] = rest.isEmpty ? [0] : []
    var left = rest.count
    let spread = 1 + next() % 64
    while left > 0 {
        let n = min(left, 1 + Int(next() % spread))
        pieces.append(n)
        left -= n
    }
    let whole = decodeBody(head, rest, pieces: [rest.count], maxBodyBytes: maxBodyBytes, maxTrailerBytes: maxTrailerBytes,
                           maxChunkLine: maxChunkLine)
    let split = decodeBody(head, rest, pieces: pieces, maxBodyBytes: maxBodyBytes, maxTrailerBytes: maxTrailerBytes,
                           maxChunkLine: maxChunkLine)
    // A gzip body both broken and past the limit is refused either way, as zlib comes first to the
    // break or to the limit, which depends on how the input is cut (HTTPBodyDecoderTests keeps a case).
    let gzipRefusals: Set<Int> = [400, 413]
    if head.gzip, let a = whole.rejection, let b = split.rejection, a != b,
       gzipRefusals.contains(a.status) && gzipRefusals.contains(b.status),
       [a, b].allSatisfy({ $0.message == "malformed gzip body" || $0.message.hasPrefix("the decompressed body") }) {
        return
    }
    precondition(whole.rejection == split.rejection, "\(String(describing: whole.rejection)) in one piece, \(String(describing: split.rejection)) in \(pieces)")
    precondition(whole.consumed == split.consumed, "consumed \(String(describing: whole.consumed)) in one piece, \(String(describing: split.consumed)) in \(pieces)")
    if whole.rejection == nil {
        precondition(whole.body == split.body, "body of \(whole.body.count) bytes in one piece, \(split.body.count) in \(pieces)")
        precondition(whole.wireBytes == split.wireBytes)
    }
}

private struct BodyOutcome {
    var body: [UInt8] = []
    var consumed: Int?
    var rejection: RequestRejection?
    var wireBytes = 0
}

/// Feeds `rest` in `pieces` as the worker does (unused bytes are given again with the next piece).
private func decodeBody(_ head: RequestHead, _ rest: UnsafeRawBufferPointer, pieces: [Int], maxBodyBytes: Int,
                        maxTrailerBytes: Int, maxChunkLine: Int) -> BodyOutcome {
    var decoder = HTTPBodyDecoder(maxBodyBytes: maxBodyBytes, maxTrailerBytes: maxTrailerBytes, maxChunkLine: maxChunkLine)
    var outcome = BodyOutcome()
    if let rejection = decoder.begin(head) {
        precondition(rejection.status == 413 || rejection.status == 500)
        precondition(rejection.status != 413 || (head.contentLength ?? 0) > maxBodyBytes)
        outcome.rejection = rejection
        return outcome
    }
    var pending: [UInt8] = []
    var used = 0
    var start = 0
    for n in pieces {
        pending += rest[start..<(start + n)]
        start += n
        while true {
            let step = pending.withUnsafeBytes { decoder.feed($0, into: &outcome.body) }
            precondition(outcome.body.count <= maxBodyBytes + 1, "body of \(outcome.body.count) bytes past the limit \(maxBodyBytes)")
            var taken = 0
            switch step {
            case .needMore(let n):
                precondition(n >= 0 && n <= pending.count, "needMore used \(n) of \(pending.count)")
                taken = n
            case .appended(let n):
                precondition(n > 0 && n <= pending.count, "appended used \(n) of \(pending.count)")
                taken = n
            case .complete(let n):
                precondition(n >= 0 && n <= pending.count, "complete used \(n) of \(pending.count)")
                let consumed = used + n
                precondition(outcome.body.count <= maxBodyBytes, "complete body of \(outcome.body.count) bytes past the limit \(maxBodyBytes)")
                precondition(decoder.wireBytes == consumed, "wire bytes \(decoder.wireBytes), consumed \(consumed)")
                precondition(consumed <= rest.count)
                if !head.chunked {
                    precondition(consumed == (head.contentLength ?? 0))
                    if !head.gzip { precondition(outcome.body.count == consumed && outcome.body[...].elementsEqual(rest[..<consumed])) }
                }
                outcome.consumed = consumed
                outcome.wireBytes = decoder.wireBytes
                return outcome
            case .rejected(let rejection):
                precondition([400, 413, 431].contains(rejection.status) && !rejection.message.isEmpty)
                outcome.rejection = rejection
                return outcome
            }
            used += taken
            pending.removeFirst(taken)
            if case .needMore = step { break }
        }
    }
    precondition(used <= rest.count)
    precondition(!head.chunked ? outcome.body.count <= (head.contentLength ?? 0) || head.gzip : true)
    outcome.wireBytes = decoder.wireBytes
    return outcome
}

/// Query decoding never traps and finds what it was given.
private func checkQuery(_ text: String) {
    for name in ["resolution", "prefix", "source-prefix", ""] { _ = QueryDecoding.value(of: name, in: text) }
    precondition(QueryDecoding.value(of: "zq", in: text + "&zq=a%2Bb+c") != nil)
}
