import BreakerCore
import BreakerProtocol

/// One breaker as the registry holds it: the state machine, its audit log, and whether it changed since the
/// last snapshot.
struct BreakerEntry: Sendable {
    var machine: BreakerStateMachine
    /// The audit log, a ring of at most `TransitionRecord.retentionLimit` records starting at `historyStart`.
    private var history: [TransitionRecord] = []
    private var historyStart = 0
    /// When the current state began, in ms since the Unix epoch (for display).
    var changedAtMs: Int64
    /// Changed since the last snapshot took it.
    var dirty: Bool

    init(machine: BreakerStateMachine, changedAtMs: Int64, dirty: Bool) {
        self.machine = machine
        self.changedAtMs = changedAtMs
        self.dirty = dirty
    }

    /// Appends `record` to the audit log, dropping the oldest past the retention limit.
    mutating func record(_ r: TransitionRecord) {
        changedAtMs = r.atMs
        if history.count < TransitionRecord.retentionLimit {
            history.append(r)
        } else {
            history[historyStart] = r
            historyStart = (historyStart + 1) % history.count
        }
    }

    /// The newest `limit` records, newest first.
    func recent(_ limit: Int) -> [TransitionRecord] {
        let n = min(limit, history.count)
        return (0..<n).map { history[(historyStart + history.count - 1 - $0) % history.count] }
    }
}
