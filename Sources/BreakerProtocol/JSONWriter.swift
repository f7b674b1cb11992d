/// Appends JSON to a byte buffer without intermediate strings: replies are written straight into a
/// connection's output buffer.
public struct JSONWriter: Sendable {
    /// The bytes written so far.
    public var bytes: [UInt8]
    private var needsComma = false

    /// A writer appending to `bytes`.
    public init(bytes: [UInt8] = []) {
        self.bytes = bytes
    }

    /// Starts an object (`{`).
    public mutating func beginObject() {
        separator()
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
    }

    /// Ends an object (`}`).
    public mutating func endObject() {
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
    }

    /// Starts an array (`[`).
    public mutating func beginArray() {
        separator()
        bytes.append(UInt8(ascii: "["))
        needsComma = false
    }

    /// Ends an array (`]`).
    public mutating func endArray() {
        bytes.append(UInt8(ascii: "]"))
        needsComma = true
    }

    /// Writes a member name; the next value written is its value. `key` must need no escaping.
    public mutating func key(_ key: StaticString) {
        append(needsComma ? ",\"" : "\"", key, "\":")
        needsComma = false
    }

    /// Appends `text` as it is (one copy, no scan).
    private mutating func append(_ text: StaticString) {
        append(UnsafeRawPointer(text.utf8Start), count: text.utf8CodeUnitCount)
    }

    /// Appends three texts as they are, with one reservation.
    private mutating func append(_ a: StaticString, _ b: StaticString, _ c: StaticString) {
        let (na, nb, nc) = (a.utf8CodeUnitCount, b.utf8CodeUnitCount, c.utf8CodeUnitCount)
        bytes.append(addingCapacity: na + nb + nc) { span in
            span.withUnsafeMutableBufferPointer { buffer, initialized in
                let target = UnsafeMutableRawPointer(buffer.baseAddress!)
                target.copyMemory(from: a.utf8Start, byteCount: na)
                (target + na).copyMemory(from: b.utf8Start, byteCount: nb)
                (target + na + nb).copyMemory(from: c.utf8Start, byteCount: nc)
                initialized = na + nb + nc
            }
        }
    }

    /// Appends `count` bytes from `source`. (`Array.append(contentsOf:)` costs about 80 instructions a call
    /// before it copies anything, and copies an `UnsafeRawBufferPointer` byte by byte; this reserves and copies.)
    private mutating func append(_ source: UnsafeRawPointer, count: Int) {
        bytes.append(addingCapacity: count) { span in
            span.withUnsafeMutableBufferPointer { buffer, initialized in
                UnsafeMutableRawPointer(buffer.baseAddress!).copyMemory(from: source, byteCount: count)
                initialized = count
            }
        }
    }

    /// Writes a member name from a runtime string (escaped). (A literal name takes `key(_:)`, which copies a
    /// `StaticString` without looking at it.)
    public mutating func dynamicKey(_ key: String) {
        separator()
        writeEscaped(key)
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    /// Writes a string value known at compile time. `value` must need no escaping (a wire name such as a state).
    public mutating func string(literal value: StaticString) {
        append(needsComma ? ",\"" : "\"", value, "\"")
        needsComma = true
    }

    /// Writes a string value, escaped.
    public mutating func string(_ value: String) {
        separator()
        writeEscaped(value)
        needsComma = true
    }

    /// Writes an integer value.
    public mutating func integer<I: BinaryInteger>(_ value: I) {
        separator()
        if value == 0 {
            bytes.append(UInt8(ascii: "0"))
        } else {
            var v = Int64(clamping: value)
            if v < 0 {
                bytes.append(UInt8(ascii: "-"))
                if v == .min {
                    bytes.append(contentsOf: "9223372036854775808".utf8)
                    needsComma = true
                    return
                }
                v = -v
            }
            var digits:
                (
                    UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                    UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8
                ) =
                    (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            // Digits from the last one backwards, at the end of `digits`; then one copy.
            withUnsafeMutableBytes(of: &digits) { d in
                var start = d.count
                while v > 0 {
                    start -= 1
                    d[start] = UInt8(ascii: "0") + UInt8(v % 10)
                    v /= 10
                }
                append(d.baseAddress! + start, count: d.count - start)
            }
        }
        needsComma = true
    }

    /// Writes a boolean value.
    public mutating func bool(_ value: Bool) {
        separator()
        append(value ? "true" : "false")
        needsComma = true
    }

    /// Writes `null`.
    public mutating func null() {
        separator()
        bytes.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])
        needsComma = true
    }

    /// Writes any parsed JSON value.
    public mutating func value(_ value: JSONValue) {
        switch value {
        case .null: null()
        case .bool(let b): bool(b)
        case .integer(let i): integer(i)
        case .number(let d):
            separator()
            // JSON has no infinity; the parser reads a number beyond Double's range as one, so write it back as
            // such a number (it reads as the same value again). NaN never comes from parsing.
            if d.isInfinite {
                bytes.append(contentsOf: (d < 0 ? "-1e999" : "1e999").utf8)
            } else {
                bytes.append(contentsOf: "\(d)".utf8)
            }
            needsComma = true
        case .string(let s): string(s)
        case .array(let elements):
            beginArray()
            for e in elements { self.value(e) }
            endArray()
        case .object(let members):
            beginObject()
            for (k, v) in members.sorted(by: { $0.key < $1.key }) {
                dynamicKey(k)
                self.value(v)
            }
            endObject()
        }
    }

    /// Writes a member whose value is a string.
    public mutating func member(_ name: StaticString, _ value: String) {
        key(name)
        string(value)
    }

    /// Writes a member whose value is a string known at compile time, which must need no escaping.
    public mutating func member(_ name: StaticString, literal value: StaticString) {
        key(name)
        string(literal: value)
    }

    /// Writes a member whose value is a whole number.
    public mutating func member<I: BinaryInteger>(_ name: StaticString, _ value: I) {
        key(name)
        integer(value)
    }

    /// Writes a member whose value is a boolean.
    public mutating func member(_ name: StaticString, _ value: Bool) {
        key(name)
        bool(value)
    }

    /// Writes a member whose value is a string, or `null`.
    public mutating func member(_ name: StaticString, orNull value: String?) {
        key(name)
        if let value { string(value) } else { null() }
    }

    /// Writes a member whose value is a whole number, or `null`.
    public mutating func member(_ name: StaticString, orNull value: Int64?) {
        key(name)
        if let value { integer(value) } else { null() }
    }

    /// Appends a raw newline (ends a line of the wire protocol) and resets the comma state.
    public mutating func newline() {
        bytes.append(0x0A)
        needsComma = false
    }

    private mutating func separator() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
    }

    private mutating func writeEscaped(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        // Most strings need no escape: copy them whole.
        if !s.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            bytes.append(contentsOf: s.utf8)
            bytes.append(UInt8(ascii: "\""))
            return
        }
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""):
                bytes.append(0x5C)
                bytes.append(0x22)
            case UInt8(ascii: "\\"):
                bytes.append(0x5C)
                bytes.append(0x5C)
            case 0x0A:
                bytes.append(0x5C)
                bytes.append(UInt8(ascii: "n"))
            case 0x0D:
                bytes.append(0x5C)
                bytes.append(UInt8(ascii: "r"))
            case 0x09:
                bytes.append(0x5C)
                bytes.append(UInt8(ascii: "t"))
            case 0..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 0xF)]])
            default: bytes.append(b)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
