/// The answer to `report`: whether the outcome counted, and what it changed.
public struct ReportResult: Sendable, Hashable {
    /// True when the outcome entered the window or the half-open tally.
    public let counted: Bool
    /// Why it did not count, when it did not.
    public let ignoredBecause: IgnoreReason?
    /// Transitions this report caused, oldest first.
    public let transitions: [BreakerTransition]

    init(counted: Bool, ignoredBecause: IgnoreReason?, transitions: [BreakerTransition]) {
        self.counted = counted
        self.ignoredBecause = ignoredBecause
        self.transitions = transitions
    }
}
