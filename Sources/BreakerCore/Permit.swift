/// A half-open probe permit: the right to make one probe call and report its outcome.
///
/// A permit belongs to the generation in which it was granted. A report that carries a permit of an older
/// generation is fenced: ignored, and the result says so. On the wire a permit is the string
/// `"<generation>.<sequence>"`.
public struct Permit: Sendable, Hashable, CustomStringConvertible {
    /// The breaker generation that granted the permit.
    public let generation: UInt64
    /// A number unique among the permits the breaker granted.
    public let sequence: UInt64

    /// Creates a permit value.
    public init(generation: UInt64, sequence: UInt64) {
        self.generation = generation
        self.sequence = sequence
    }

    /// Parses `"<generation>.<sequence>"`; nil for anything else.
    public init?(parsing text: some StringProtocol) {
        guard let dot = text.firstIndex(of: "."),
            let g = UInt64(text[text.startIndex..<dot]),
            let s = UInt64(text[text.index(after: dot)...])
        else { return nil }
        self.init(generation: g, sequence: s)
    }

    /// `"<generation>.<sequence>"`.
    public var description: String { "\(generation).\(sequence)" }
}
