/// Sizes as flags give them: a whole number with an optional unit, `B`, `KiB`, `MiB` or `GiB` (`256MiB`).
enum ByteCountText {
    /// The size in bytes, or nil when the text is not a size.
    static func parse(_ text: String) -> Int? {
        let units: [(String, Int)] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("B", 1), ("", 1)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            guard let n = Int(text.dropLast(suffix.count)), n >= 0 else { continue }
            let (bytes, overflow) = n.multipliedReportingOverflow(by: scale)
            return overflow ? nil : bytes
        }
        return nil
    }
}
