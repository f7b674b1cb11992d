extension FixedWidthInteger {
    /// `self + other`, or the nearest representable value (`.max` or `.min`) when that overflows. Compiles to an
    /// add and a conditional move: cheap enough for the report path.
    @inline(__always)
    func addingSaturated(_ other: Self) -> Self {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other < 0 ? .min : .max) : sum
    }

    /// `self - other`, or the nearest representable value (`.max` or `.min`) when that overflows.
    @inline(__always)
    func subtractingSaturated(_ other: Self) -> Self {
        let (difference, overflow) = subtractingReportingOverflow(other)
        return overflow ? (other < 0 ? .max : .min) : difference
    }
}
