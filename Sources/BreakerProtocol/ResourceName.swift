/// Rules for resource names: 1–200 bytes of `A–Z a–z 0–9 . _ : / @ -`.
public enum ResourceName {
    /// The longest name, in bytes.
    public static let maximumLength = 200

    /// True when `name` is a valid resource name.
    public static func isValid(_ name: String) -> Bool {
        let utf8 = name.utf8
        guard !utf8.isEmpty, utf8.count <= maximumLength else { return false }
        return utf8.allSatisfy(isAllowed)
    }

    /// True when `utf8` is a valid resource name's bytes (the same test as `isValid(_:)`, without a `String`).
    static func isValid(utf8: UnsafeRawBufferPointer) -> Bool {
        guard !utf8.isEmpty, utf8.count <= maximumLength else { return false }
        return utf8.allSatisfy(isAllowed)
    }

    /// True when `prefix` is empty or could begin a valid name.
    public static func isValidPrefix(_ prefix: String) -> Bool {
        prefix.utf8.count <= maximumLength && prefix.utf8.allSatisfy(isAllowed)
    }

    /// Why `name` is not valid, or nil when it is.
    public static func problem(with name: String) -> String? {
        let utf8 = name.utf8
        if utf8.isEmpty { return "the resource name is empty" }
        if utf8.count > maximumLength {
            return "the resource name is \(utf8.count) bytes; at most \(maximumLength) are allowed"
        }
        if let bad = utf8.first(where: { !isAllowed($0) }) {
            let shown =
                (0x20..<0x7F).contains(bad) ? "'\(Character(UnicodeScalar(bad)))'" : "byte 0x\(String(bad, radix: 16))"
            return "the resource name has \(shown); allowed are A-Z a-z 0-9 . _ : / @ -"
        }
        return nil
    }

    @inline(__always)
    static func isAllowed(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: ":"),
            UInt8(ascii: "/"), UInt8(ascii: "@"), UInt8(ascii: "-"):
            true
        default: false
        }
    }
}
