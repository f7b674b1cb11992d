public import BreakerCore
public import BreakerProtocol

#if canImport(Glibc)
import Glibc
#endif

/// How `breakerctl` writes for people: aligned tables, durations as people read them (`29s`, `4m10s`),
/// states coloured when the output is a terminal.
public struct ControlFormatter: Sendable {
    /// Colour states with ANSI escapes.
    public var color: Bool
    /// Now, in ms since the Unix epoch (for "ago").
    public var nowMs: Int64

    public init(color: Bool, nowMs: Int64) {
        self.color = color
        self.nowMs = nowMs
    }

    /// True when stdout is a terminal and `NO_COLOR` is not set (https://no-color.org).
    public static var shouldColor: Bool {
        isatty(STDOUT_FILENO) == 1 && getenv("NO_COLOR") == nil
    }

    /// Now on the wall clock, in ms since the Unix epoch.
    public static func wallNowMs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000 + Int64(ts.tv_nsec) / 1_000_000
    }

    /// `text` in the colour of `state` (when colouring is on).
    public func paint(_ state: BreakerState, _ text: String) -> String {
        guard color else { return text }
        let code =
            switch state {
            case .closed: "32"
            case .open: "31"
            case .halfOpen: "33"
            case .forcedOpen: "1;31"
            case .forcedClosed: "1;36"
            }
        return "\u{1B}[\(code)m\(text)\u{1B}[0m"
    }

    /// A duration in ms as people read it: `850ms`, `29s`, `4m10s`, `2h5m`.
    public func duration(ms: Int64) -> String { DurationText.format(.milliseconds(ms)) }

    /// `4m10s ago`.
    public func ago(_ atMs: Int64) -> String {
        let ms = max(0, nowMs - atMs)
        return ms < 1_000 ? "just now" : "\(duration(ms: ms)) ago"
    }

    /// `2026-11-24 01:02:03Z`.
    public static func timestamp(_ ms: Int64) -> String {
        var seconds = time_t(ms / 1_000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday)) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }

    /// The `list` table: resource, state, failure rate, calls in window, retry-after or forced-for, changed ago.
    public func table(_ breakers: [BreakerInfo]) -> String {
        let header = ["RESOURCE", "STATE", "FAILURES", "CALLS", "RETRY/FORCED", "CHANGED"]
        var rows: [[String]] = []
        for b in breakers {
            let rate = b.windowCalls == 0 ? "-" : "\(b.windowFailures * 100 / b.windowCalls)%"
            rows.append([b.resource, b.state.rawValue, rate, "\(b.windowCalls)", timing(b), ago(b.changedAtMs)])
        }
        guard !rows.isEmpty else { return "no breakers" }
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String], state: BreakerState?) -> String {
            var out = ""
            for (i, cell) in cells.enumerated() {
                let padded =
                    i == cells.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - cell.count + 2)
                out += (i == 1 && state != nil) ? paint(state!, padded) : padded
            }
            return out
        }
        var lines = [line(header, state: nil)]
        for (row, b) in zip(rows, breakers) { lines.append(line(row, state: b.state)) }
        return lines.joined(separator: "\n")
    }

    /// `retry in 29s`, `forced 9m59s`, `forced`, or `-`.
    func timing(_ b: BreakerInfo) -> String {
        if let f = b.forced { return f.remainingMs.map { "forced \(duration(ms: $0))" } ?? "forced" }
        if b.state == .open, let r = b.retryAfterMs { return "retry in \(duration(ms: r))" }
        if let h = b.halfOpen { return "probes \(h.permitsOut) out" }
        return "-"
    }

    /// One breaker, a field per line; `leases` is how many connections hold a live lease on it.
    public func status(_ b: BreakerInfo) -> String {
        let p = b.policy
        var window = ""
        switch p.window {
        case .count(let n): window = "last \(n) calls"
        case .time(let d, let buckets): window = "last \(DurationText.format(d)) in \(buckets) buckets"
        }
        var lines = [
            "resource:   \(b.resource)",
            "state:      \(paint(b.state, b.state.rawValue)) (generation \(b.generation), since \(ago(b.changedAtMs)))",
            "window:     \(b.windowCalls) calls, \(b.windowFailures) failures (\(window))",
            "policy:     trip at \(p.failureThreshold) failures, min \(p.minimumCalls) calls, cooldown \(DurationText.format(p.cooldown)), "
                + "\(p.halfOpenPermits) probes" + (p.successThreshold.map { ", close at \($0) successes" } ?? "")
                + ", permit ttl \(DurationText.format(p.permitTTL))",
        ]
        if let f = b.forced {
            lines.append(
                "forced:     \(f.state.rawValue) by \(f.by ?? "-")" + (f.reason.map { ": \($0)" } ?? "")
                    + (f.remainingMs.map { " (ends in \(duration(ms: $0)))" } ?? " (until released)")
            )
        } else if b.state == .open, let r = b.retryAfterMs {
            lines.append("retry in:   \(duration(ms: r))")
        }
        if let h = b.halfOpen {
            lines.append("probes:     \(h.permitsOut) out, \(h.successes) succeeded, \(h.failures) failed")
        }
        // Left out of the reply when no connection holds a lease (and by servers before 0.3.0).
        lines.append("leases:     \(b.leases ?? 0)")
        return lines.joined(separator: "\n")
    }

    /// `history`: when, from → to, cause, and who and why for operator actions.
    public func history(_ records: [TransitionRecord]) -> String {
        guard !records.isEmpty else { return "no transitions" }
        return records.map(transition).joined(separator: "\n")
    }

    func transition(_ r: TransitionRecord) -> String {
        var line =
            "\(Self.timestamp(r.atMs))  \(paint(r.from, r.from.rawValue)) → \(paint(r.to, r.to.rawValue))  \(r.cause.rawValue)"
        if let by = r.by { line += "  by \(by)" }
        if let reason = r.reason { line += "  \"\(reason)\"" }
        return line
    }

    /// One watched event.
    public func event(_ e: BreakerEvent) -> String {
        switch e {
        case .transition(let resource, let r): "\(resource)  " + transition(r)
        case .deleted(let resource): "\(Self.timestamp(nowMs))  \(resource)  deleted"
        }
    }

    /// `stats`, a line per figure.
    public func stats(_ s: StatsReply) -> String {
        let states = BreakerState.allCases.map { "\(s.breakers.count(in: $0)) \($0.rawValue)" }.joined(separator: ", ")
        let busy = OperationName.allCases.compactMap { op -> String? in
            let n = s.count(of: op)
            return n > 0 ? "\(op.rawValue) \(n)" : nil
        }
        let at = s.snapshot.atMs.map(ago) ?? "none yet"
        return [
            "uptime:       \(duration(ms: s.uptimeMs))",
            "connections:  \(s.connections) (\(s.connectionsTotal) since start), \(s.watchers) watching",
            "breakers:     \(s.breakers.total) (\(states))",
            "transitions:  \(s.transitions)",
            "requests:     " + (busy.isEmpty ? "none" : busy.joined(separator: ", ")) + "; errors \(s.errors)",
            "rejected:     \(s.rejectedConnections) connections, \(s.slowConsumerDisconnects) slow watchers",
            "snapshot:     \(at), \(s.snapshot.rows) rows in \(s.snapshot.durationMs) ms",
        ].joined(separator: "\n")
    }
}
