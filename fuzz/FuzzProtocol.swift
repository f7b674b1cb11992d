// libFuzzer target for the wire protocol's input path: LineFramer splitting arbitrary chunks, Request.decode on
// every line, and the JSON parser's round trip (parse → write → parse gives the same value).
// Built by fuzz/run.sh with swiftc directly (-sanitize=fuzzer,address); not part of the package build.
import BreakerCore
import BreakerProtocol

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzProtocol(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 1 else { return 0 }
    let all = UnsafeRawBufferPointer(start: data, count: size)
    // Byte 0 picks the line limit, byte 1 the chunk size; the rest is the stream.
    let limit = 8 + Int(all[0]) * 8
    let chunk = 1 + Int(all[1]) % 64
    let stream = UnsafeRawBufferPointer(rebasing: all[2...])

    var framer = LineFramer(maximumLineBytes: limit)
    var offset = 0
    var failed = false
    while offset < stream.count && !failed {
        let end = min(stream.count, offset + chunk)
        let piece = UnsafeRawBufferPointer(rebasing: stream[offset..<end])
        var resume = piece.count
        switch framer.feed(piece, { line in
            precondition(!line.isEmpty && line.count <= limit, "a line the framer should not hand out")
            precondition(!line.contains(0x0A), "a newline inside a line")
            check(line)
            return true
        }) {
        case .consumed: break
        case .stopped(let at): resume = at
        case .lineTooLong: failed = true
        }
        precondition(framer.partial.count <= limit + 1, "partial line over the limit kept")
        offset += resume
    }
    _ = framer.finish { check($0); return true }
    check(stream)
    return 0
}

/// Decoding never crashes, and whatever parses survives a write and a second parse unchanged.
func check(_ bytes: UnsafeRawBufferPointer) {
    _ = try? Request.decode(line: bytes)
    guard let value = try? JSONParser.parse(bytes) else { return }
    var writer = JSONWriter()
    writer.value(value)
    let again: JSONValue
    do {
        again = try JSONParser.parse(writer.bytes)
    } catch {
        preconditionFailure("written JSON does not parse: \(error)")
    }
    precondition(again == value || isNaNSafeEqual(again, value), "JSON round trip changed the value")
}

func isNaNSafeEqual(_ a: JSONValue, _ b: JSONValue) -> Bool { a == b }
