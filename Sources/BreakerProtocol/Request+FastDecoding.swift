import BreakerCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Request {
    /// The hand-written decoder of the hot operations: `acquire` and `report` lines whose members are plain
    /// (strings without escapes, whole numbers, booleans; no `policy`, no counts, no unknown or repeated
    /// members). It builds no JSON tree. It returns nil for anything else, including every line that would be
    /// an error, so that the general decoder answers those (with its precise messages). For every line it does
    /// accept it returns exactly what `decodeGeneral(line:)` returns (a test feeds both the same random input).
    public static func decodeFast(line: UnsafeRawBufferPointer) -> Request? {
        var s = FastScanner(bytes: line)
        guard s.consume(UInt8(ascii: "{")) else { return nil }
        var opBytes: UnsafeRawBufferPointer?
        var id: RequestID?
        var resource: UnsafeRawBufferPointer?
        var outcome: UnsafeRawBufferPointer?
        var permit: UnsafeRawBufferPointer?
        var noreply: Bool?
        var duration: Int64?
        var seen: UInt8 = 0
        if s.consume(UInt8(ascii: "}")) { return nil }
        while true {
            guard let key = s.string() else { return nil }
            guard s.consume(UInt8(ascii: ":")) else { return nil }
            let bit: UInt8
            switch FastKey(key) {
            case .op:
                bit = 1
                guard let v = s.string() else { return nil }
                opBytes = v
            case .id:
                bit = 2
                if let v = s.string() {
                    guard v.count <= RequestID.maximumStringLength else { return nil }
                    id = .string(String(decoding: v, as: UTF8.self))
                } else if let n = s.integer() {
                    id = .integer(n)
                } else {
                    return nil
                }
            case .resource:
                bit = 4
                guard let v = s.string() else { return nil }
                resource = v
            case .outcome:
                bit = 8
                guard let v = s.string() else { return nil }
                outcome = v
            case .permit:
                bit = 16
                guard let v = s.string() else { return nil }
                permit = v
            case .noreply:
                bit = 32
                guard let b = s.boolean() else { return nil }
                noreply = b
            case .durationMs:
                bit = 64
                guard let n = s.integer(), n >= 0 else { return nil }
                duration = n
            case .other:
                return nil
            }
            guard seen & bit == 0 else { return nil }  // a repeated member: leave it to the general decoder
            seen |= bit
            if s.consume(UInt8(ascii: ",")) { continue }
            guard s.consume(UInt8(ascii: "}")), s.atEnd else { return nil }
            break
        }
        guard let opBytes, let resource, ResourceName.isValid(utf8: resource) else { return nil }
        let name = String(decoding: resource, as: UTF8.self)
        if FastScanner.equals(opBytes, "acquire") {
            guard outcome == nil, permit == nil, noreply == nil, duration == nil else { return nil }
            return Request(id: id, .acquire(resource: name, policy: nil))
        }
        guard FastScanner.equals(opBytes, "report"), let outcome else { return nil }
        let value: Outcome
        if FastScanner.equals(outcome, "success") {
            value = .success
        } else if FastScanner.equals(outcome, "failure") {
            value = .failure
        } else if FastScanner.equals(outcome, "ignored") {
            value = .ignored
        } else {
            return nil
        }
        var parsedPermit: Permit?
        if let permit {
            guard permit.count <= 64, let p = Permit(parsing: String(decoding: permit, as: UTF8.self)) else {
                return nil
            }
            parsedPermit = p
        }
        return Request(
            id: id,
            .report(
                resource: name,
                kind: .outcome(value, permit: parsedPermit),
                policy: nil,
                durationMs: duration,
                noreply: noreply ?? false
            )
        )
    }
}

private enum FastKey {
    case op, id, resource, outcome, permit, noreply, durationMs, other

    init(_ key: UnsafeRawBufferPointer) {
        switch key.count {
        case 2: self = FastScanner.equals(key, "op") ? .op : (FastScanner.equals(key, "id") ? .id : .other)
        case 6: self = FastScanner.equals(key, "permit") ? .permit : .other
        case 7:
            self =
                FastScanner.equals(key, "outcome") ? .outcome : (FastScanner.equals(key, "noreply") ? .noreply : .other)
        case 8: self = FastScanner.equals(key, "resource") ? .resource : .other
        case 11: self = FastScanner.equals(key, "duration_ms") ? .durationMs : .other
        default: self = .other
        }
    }
}

/// A cursor over one line for the fast decoder. Every method skips white space first and fails (nil/false)
/// rather than guessing.
private struct FastScanner {
    let bytes: UnsafeRawBufferPointer
    var i = 0

    init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x09 || bytes[i] == 0x0D || bytes[i] == 0x0A { i += 1 }
    }

    var atEnd: Bool {
        mutating get {
            skipSpace()
            return i == bytes.count
        }
    }

    mutating func consume(_ byte: UInt8) -> Bool {
        skipSpace()
        guard i < bytes.count, bytes[i] == byte else { return false }
        i += 1
        return true
    }

    /// A string without escapes or control characters, as ASCII or valid UTF-8 bytes.
    mutating func string() -> UnsafeRawBufferPointer? {
        skipSpace()
        guard i < bytes.count, let base = bytes.baseAddress, base.load(fromByteOffset: i, as: UInt8.self) == 0x22
        else { return nil }
        let start = i + 1
        var j = start
        while j < bytes.count {
            let b = base.load(fromByteOffset: j, as: UInt8.self)
            if b == 0x22 {
                i = j + 1
                return UnsafeRawBufferPointer(start: base + start, count: j - start)
            }
            // An escape or a control character; or a non-ASCII byte: UTF-8 validation (and its error) is left to
            // the general decoder.
            if b == UInt8(ascii: "\\") || b < 0x20 || b >= 0x80 { return nil }
            j += 1
        }
        return nil
    }

    /// A whole number in JSON's form (no leading zeros, no fraction or exponent) that fits Int64.
    mutating func integer() -> Int64? {
        skipSpace()
        var j = i
        var negative = false
        if j < bytes.count, bytes[j] == UInt8(ascii: "-") {
            negative = true
            j += 1
        }
        let digitsStart = j
        var value: Int64 = 0
        while j < bytes.count, bytes[j] >= UInt8(ascii: "0"), bytes[j] <= UInt8(ascii: "9") {
            let d = Int64(bytes[j] - UInt8(ascii: "0"))
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = negative ? m.subtractingReportingOverflow(d) : m.addingReportingOverflow(d)
            if o1 || o2 { return nil }
            value = a
            j += 1
        }
        let digits = j - digitsStart
        guard digits > 0, !(digits > 1 && bytes[digitsStart] == UInt8(ascii: "0")) else { return nil }
        if j < bytes.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[j]) { return nil }
        i = j
        return value
    }

    mutating func boolean() -> Bool? {
        skipSpace()
        if Self.hasPrefix(bytes, at: i, "true") {
            i += 4
            return true
        }
        if Self.hasPrefix(bytes, at: i, "false") {
            i += 5
            return false
        }
        return nil
    }

    static func hasPrefix(_ bytes: UnsafeRawBufferPointer, at i: Int, _ literal: StaticString) -> Bool {
        let n = literal.utf8CodeUnitCount
        guard bytes.count - i >= n, let base = bytes.baseAddress else { return false }
        return memcmp(base + i, literal.utf8Start, n) == 0
    }

    static func equals(_ bytes: UnsafeRawBufferPointer, _ literal: StaticString) -> Bool {
        bytes.count == literal.utf8CodeUnitCount && hasPrefix(bytes, at: 0, literal)
    }
}
