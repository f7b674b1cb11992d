/// A request's header fields in the order they arrived, looked up by name without regard to ASCII case.
struct HTTPHeaders: Sendable, Equatable, Sequence {
    /// One header field: the name as sent and the value trimmed of surrounding spaces and tabs.
    struct Field: Sendable, Equatable {
        /// The field name as sent (`Authorization`).
        var name: String
        /// The field value without leading or trailing whitespace.
        var value: String
    }

    /// Every field, in arrival order; a name may repeat.
    private(set) var fields: [Field] = []

    /// Headers with the given fields, in order.
    init(_ fields: [(String, String)] = []) {
        for (name, value) in fields {
            append(name: name, value: value)
        }
    }

    /// Adds a field after the others.
    mutating func append(name: String, value: String) {
        fields.append(Field(name: name, value: value))
    }

    /// How many fields there are (repeated names count each time).
    var count: Int { fields.count }

    /// The value of the first field called `name` (ASCII case-insensitive), or nil when there is none.
    subscript(name: String) -> String? {
        fields.first { Self.sameName($0.name, name) }?.value
    }

    /// The values of every field called `name` (ASCII case-insensitive), in arrival order.
    func values(_ name: String) -> [String] {
        fields.filter { Self.sameName($0.name, name) }.map(\.value)
    }

    /// True when a field called `name` (ASCII case-insensitive) is present.
    func contains(_ name: String) -> Bool {
        fields.contains { Self.sameName($0.name, name) }
    }

    /// True when `token` is among the comma-separated values of the fields called `name` (both ASCII
    /// case-insensitive): `contains(token: "close", in: "Connection")`.
    func contains(token: String, in name: String) -> Bool {
        values(name).contains { value in
            value.split(separator: ",").contains { Self.sameName(Self.trimmingWhitespace($0), token) }
        }
    }

    /// Iterates the fields in arrival order.
    func makeIterator() -> IndexingIterator<[Field]> { fields.makeIterator() }

    /// True when `a` and `b` are equal ignoring ASCII case.
    static func sameName(_ a: some StringProtocol, _ b: some StringProtocol) -> Bool {
        let a = a.utf8
        let b = b.utf8
        guard a.count == b.count else { return false }
        for (x, y) in zip(a, b) where x != y {
            guard lowercased(x) == lowercased(y) else { return false }
        }
        return true
    }

    private static func trimmingWhitespace(_ text: Substring) -> Substring {
        var text = text
        while let c = text.first, c == " " || c == "\t" { text.removeFirst() }
        while let c = text.last, c == " " || c == "\t" { text.removeLast() }
        return text
    }

    private static func lowercased(_ byte: UInt8) -> UInt8 {
        (0x41...0x5A).contains(byte) ? byte | 0x20 : byte
    }
}
