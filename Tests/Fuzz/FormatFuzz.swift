// libFuzzer entry over what the server reads besides drain bodies: bucket records read back from
// the store (BucketCodec, BucketKey store keys), `Authorization: Basic` headers, Fernet tokens,
// decrypted plaintexts (Destination), RFC3339 / command-line times, HTTP request heads and queries. Built by `scripts/fuzz
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
    if let end { precondition(end <= input.count && end >= 2) }
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

/// Query decoding never traps and finds what it was given.
private func checkQuery(_ text: String) {
    for name in ["resolution", "prefix", "source-prefix", ""] { _ = QueryDecoding.value(of: name, in: text) }
    precondition(QueryDecoding.value(of: "zq", in: text + "&zq=a%2Bb+c") != nil)
}
