import BreakerCore
import BreakerProtocol

/// One breaker as the registry holds it: the state machine, its audit log, and whether it changed since the
/// last snapshot.
struct BreakerEntry: Sendable {
    var machine: BreakerStateMachine
    /// How many of its newest transitions a breaker keeps in memory; `history` reads older ones from the
    /// database, which keeps `TransitionRecord.retentionLimit` of them.
    static let recentTransitionsInMemory = 16

    /// The newest transitions, a ring of at most `recentTransitionsInMemory` records starting at `historyStart`.
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
        if history.count < Self.recentTransitionsInMemory {
            history.append(r)
        } else {
            history[historyStart] = r
            historyStart = (historyStart + 1) % history.count
        }
    }

    /// True when the ring is full: older transitions may be on disk only.
    var historyMayContinueOnDisk: Bool { history.count == Self.recentTransitionsInMemory }

    /// The newest `limit` records in memory, newest first.
    func recent(_ limit: Int) -> [TransitionRecord] {
        let n = min(limit, history.count)
        return (0..<n).map { history[(historyStart + history.count - 1 - $0) % history.count] }
    }
}
