/// A ratio `numerator/denominator` that is deliberately **not reduced**.
///
/// In a breaker policy the denominator carries meaning of its own: `2/4` means "2 failures out of a window of
/// 4 calls", which is not the same policy as `1/2`. Comparisons between ratios are exact (cross multiplication,
/// no floating point).
public struct Fraction: Sendable, Hashable, CustomStringConvertible {
    /// The count on top of the bar, for example the failures in `2/5`.
    public let numerator: Int
    /// The count below the bar, for example the window size in `2/5`.
    public let denominator: Int

    /// Creates `numerator/denominator` as given. Range checks belong to the caller (see `BreakerPolicy`).
    public init(_ numerator: Int, _ denominator: Int) {
        self.numerator = numerator
        self.denominator = denominator
    }

    /// Parses `"k/n"` (decimal integers, optional spaces around the slash). Returns nil for anything else.
    public init?(parsing text: some StringProtocol) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2,
            let k = Int(parts[0].trimmingSpaces()),
            let n = Int(parts[1].trimmingSpaces())
        else { return nil }
        self.init(k, n)
    }

    /// `"k/n"`, the form the wire protocol uses.
    public var description: String { "\(numerator)/\(denominator)" }

    /// True when `part/whole ≥ self`, compared exactly. `whole` must be positive.
    public func isReached(by part: Int, of whole: Int) -> Bool {
        // part/whole >= numerator/denominator  <=>  part * denominator >= numerator * whole (both positive).
        part.multipliedFullWidth(by: denominator) >= numerator.multipliedFullWidth(by: whole)
    }
}

extension StringProtocol {
    fileprivate func trimmingSpaces() -> Substring {
        var s = Substring(self)
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return s
    }
}
