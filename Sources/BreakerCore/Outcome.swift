/// What a protected call's caller reports back to the breaker.
public enum Outcome: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// The call worked: it counts as a success.
    case success
    /// The call failed in a way the breaker should count.
    case failure
    /// The call ended in a way that says nothing about the dependency (cancelled, a caller error): not counted.
    /// In half-open it returns the probe permit, so another caller may probe.
    case ignored

    /// The wire name: `success`, `failure` or `ignored`.
    public var description: String { rawValue }
}
