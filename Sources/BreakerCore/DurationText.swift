/// Durations as people write them on command lines: `500ms`, `5s`, `2m`, `1h`, `1m30s`; a bare number is seconds.
public enum DurationText {
    /// Parses `text`, or nil when it is not a duration (or is longer than `Int64.max` milliseconds, about
    /// 292 million years).
    public static func parse(_ text: String) -> Duration? {
        if let seconds = Int64(text) { return seconds >= 0 ? .seconds(seconds) : nil }
        var totalMs: Int64 = 0
        var digits = ""
        var rest = Substring(text)
        var sawUnit = false
        while let c = rest.first {
            if c.isNumber {
                digits.append(c)
                rest.removeFirst()
                continue
            }
            guard let n = Int64(digits) else { return nil }
            digits = ""
            let unitMs: Int64
            if rest.hasPrefix("ms") {
                unitMs = 1
                rest.removeFirst(2)
            } else if rest.hasPrefix("s") {
                unitMs = 1_000
                rest.removeFirst()
            } else if rest.hasPrefix("m") {
                unitMs = 60_000
                rest.removeFirst()
            } else if rest.hasPrefix("h") {
                unitMs = 3_600_000
                rest.removeFirst()
            } else if rest.hasPrefix("d") {
                unitMs = 86_400_000
                rest.removeFirst()
            } else {
                return nil
            }
            let (partMs, o1) = n.multipliedReportingOverflow(by: unitMs)
            let (sum, o2) = totalMs.addingReportingOverflow(partMs)
            guard !o1, !o2 else { return nil }
            totalMs = sum
            sawUnit = true
        }
        return sawUnit && digits.isEmpty ? .milliseconds(totalMs) : nil
    }

    /// Writes `duration` the way people read it: `29s`, `4m10s`, `2h5m`, `850ms`.
    public static func format(_ duration: Duration) -> String {
        let ms = duration.millisecondsRoundedUp
        if ms < 1_000 { return "\(ms)ms" }
        var s = ms / 1_000
        let d = s / 86_400
        s %= 86_400
        let h = s / 3_600
        s %= 3_600
        let m = s / 60
        s %= 60
        var out = ""
        if d > 0 { out += "\(d)d" }
        if h > 0 { out += "\(h)h" }
        if m > 0 && d == 0 { out += "\(m)m" }
        if s > 0 && d == 0 && h == 0 { out += "\(s)s" }
        return out.isEmpty ? "0s" : out
    }
}
