/// Writes the Prometheus text exposition format 0.0.4: a `# HELP` and a `# TYPE` line per family, then its
/// samples. Label values are escaped (`\\`, `\"`, `\n`), so a resource name can never break a line.
struct PrometheusText {
    /// The metric types this server exposes.
    enum Kind: String {
        case counter, gauge, histogram
    }

    private(set) var bytes: [UInt8] = []

    init() { bytes.reserveCapacity(16_384) }

    /// Starts a family: its help text and type.
    mutating func family(_ name: String, _ kind: Kind, _ help: String) {
        append("# HELP \(name) ")
        for unit in help.utf8 {
            switch unit {
            case UInt8(ascii: "\\"): append("\\\\")
            case UInt8(ascii: "\n"): append("\\n")
            default: bytes.append(unit)
            }
        }
        append("\n# TYPE \(name) \(kind.rawValue)\n")
    }

    /// One sample with its labels (name, value), in the order given.
    mutating func sample(_ name: String, _ labels: [(String, String)] = [], _ value: Double) {
        append(name)
        if !labels.isEmpty {
            bytes.append(UInt8(ascii: "{"))
            for (i, (label, text)) in labels.enumerated() {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                append(label)
                append("=\"")
                for unit in text.utf8 {
                    switch unit {
                    case UInt8(ascii: "\\"): append("\\\\")
                    case UInt8(ascii: "\""): append("\\\"")
                    case UInt8(ascii: "\n"): append("\\n")
                    default: bytes.append(unit)
                    }
                }
                bytes.append(UInt8(ascii: "\""))
            }
            bytes.append(UInt8(ascii: "}"))
        }
        bytes.append(UInt8(ascii: " "))
        append(Self.format(value))
        bytes.append(UInt8(ascii: "\n"))
    }

    /// An integer sample.
    mutating func sample(_ name: String, _ labels: [(String, String)] = [], _ value: Int) {
        sample(name, labels, Double(value))
    }

    /// A whole family of one sample.
    mutating func single(_ name: String, _ kind: Kind, _ help: String, _ value: Double) {
        family(name, kind, help)
        sample(name, [], value)
    }

    /// A histogram's buckets (cumulative, `+Inf` last), sum and count.
    mutating func histogram(_ name: String, _ help: String, _ h: DurationHistogram) {
        family(name, .histogram, help)
        let cumulative = h.cumulative
        for (i, bound) in DurationHistogram.bounds.enumerated() {
            sample(name + "_bucket", [("le", Self.format(bound))], cumulative[i])
        }
        sample(name + "_bucket", [("le", "+Inf")], h.count)
        sample(name + "_sum", [], h.sum)
        sample(name + "_count", [], h.count)
    }

    /// Whole numbers without a fraction, others in Swift's shortest round-trip form; `+Inf`, `-Inf`, `NaN`.
    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }

    private mutating func append(_ s: String) { bytes.append(contentsOf: s.utf8) }
}
