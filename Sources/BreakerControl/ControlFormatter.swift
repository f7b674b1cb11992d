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

    /// The `list` table: resource, state (`(shadow)` in shadow mode), failure rate, slow rate and failing
    /// clients (these two columns only when a breaker listed has a slow-call rule or a failing-client quorum),
    /// calls in window, retry-after or forced-for (with the grown cooldown), changed ago.
    public func table(_ breakers: [BreakerInfo]) -> String {
        let slowColumn = breakers.contains { $0.policy.slowCall != nil }
        let clientsColumn = breakers.contains { $0.policy.minFailingClients > 1 }
        var header = ["RESOURCE", "STATE", "FAILURES"]
        if slowColumn { header.append("SLOW") }
        if clientsColumn { header.append("CLIENTS") }
        header += ["CALLS", "RETRY/FORCED", "CHANGED"]
        var rows: [[String]] = []
        for b in breakers {
            let shadow = b.policy.mode == .shadow ? " (shadow)" : ""
            var row = [b.resource, b.state.rawValue + shadow, percentage(b.windowFailures, of: b.windowCalls)]
            if slowColumn {
                row.append(b.policy.slowCall == nil ? "-" : percentage(b.windowSlow, of: b.windowCalls))
            }
            if clientsColumn {
                let quorum = b.policy.minFailingClients
                row.append(quorum > 1 ? "\(b.windowFailingClients)/\(quorum)" : "-")
            }
            row += ["\(b.windowCalls)", timing(b), ago(b.changedAtMs)]
            rows.append(row)
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

    /// `n%` of `calls`, or `-` for an empty window.
    func percentage(_ count: Int, of calls: Int) -> String {
        calls == 0 ? "-" : "\(count * 100 / calls)%"
    }

    /// `retry in 29s`, `forced 9m59s`, `forced`, or `-`; then `cooldown 1m` when the cooldown has grown.
    func timing(_ b: BreakerInfo) -> String {
        var text = "-"
        if let f = b.forced {
            text = f.remainingMs.map { "forced \(duration(ms: $0))" } ?? "forced"
        } else if b.state == .open, let r = b.retryAfterMs {
            text = "retry in \(duration(ms: r))"
        } else if let h = b.halfOpen {
            text = "probes \(h.permitsOut) out"
        }
        guard let grown = grownCooldownMs(b) else { return text }
        return (text == "-" ? "" : text + ", ") + "cooldown \(duration(ms: grown))"
    }

    /// `cooldown_ms_current` when it differs from the policy's `cooldown_ms` (it grew), else nil.
    func grownCooldownMs(_ b: BreakerInfo) -> Int64? {
        b.cooldownCurrentMs == b.policy.cooldown.millisecondsRoundedUp ? nil : b.cooldownCurrentMs
    }

    /// `2`, `1.5`: a multiplier without a needless `.0`.
    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? "\(Int64(value))" : "\(value)"
    }

    /// One breaker, a field per line; `leases` is how many connections hold a live lease on it.
    public func status(_ b: BreakerInfo) -> String {
        let p = b.policy
        var window = ""
        switch p.window {
        case .count(let n): window = "last \(n) calls"
        case .time(let d, let buckets): window = "last \(DurationText.format(d)) in \(buckets) buckets"
        }
        var counts = "\(b.windowCalls) calls, \(b.windowFailures) failures"
        if p.slowCall != nil { counts += ", \(b.windowSlow) slow" }
        if p.minFailingClients > 1 { counts += ", failures from \(b.windowFailingClients) clients" }
        var lines = [
            "resource:   \(b.resource)",
            "state:      \(paint(b.state, b.state.rawValue)) (generation \(b.generation), since \(ago(b.changedAtMs)))",
            "window:     \(counts) (\(window))",
            "policy:     trip at \(p.failureThreshold) failures, min \(p.minimumCalls) calls, cooldown \(DurationText.format(p.cooldown)), "
                + "\(p.halfOpenPermits) probes" + (p.successThreshold.map { ", close at \($0) successes" } ?? "")
                + ", permit ttl \(DurationText.format(p.permitTTL))",
        ]
        if let slow = p.slowCall {
            let duration = DurationText.format(slow.duration)
            lines.append("            slow calls take ≥ \(duration), trip at \(slow.threshold) slow")
        }
        if let growth = p.cooldownGrowth {
            lines.append(
                "            cooldown grows ×\(Self.number(growth.multiplier)) after each failed half-open, "
                    + "up to \(DurationText.format(growth.maximum))"
            )
        }
        if p.cooldownJitter > 0 {
            lines.append("            cooldown jitter ±\(Self.number((p.cooldownJitter * 1_000).rounded() / 10))%")
        }
        if p.minFailingClients > 1 {
            lines.append("            trip on failures only from ≥ \(p.minFailingClients) distinct clients")
        }
        if p.mode == .shadow {
            lines.append("mode:       shadow (no call is rejected; replies say would_allow:false instead)")
        }
        if let grown = grownCooldownMs(b) {
            lines.append("cooldown:   \(duration(ms: grown)) now (grown after failed half-opens)")
        }
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
        if r.shadow { line += "  (shadow: not enforced)" }
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
