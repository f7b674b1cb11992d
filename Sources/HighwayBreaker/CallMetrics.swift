import BreakerCore
import CoreMetrics

/// The swift-metrics instruments one breaker reports its calls to, made once when the breaker is created (its
/// resource is fixed), so a call costs at most a counter increment and, for a call that runs, one timer record:
///
/// - `highway_breaker_client_calls_total` (counter), dimensions `resource`, `outcome` (`allowed`: the protected
///   operation ran; `rejected`: `CircuitOpenError` was thrown instead) and `source` (who decided: `server`, the
///   shared circuit, by a round trip or under a lease; `local`, an in-process `CircuitBreakerPolicy`; `fallback`,
///   a `SharedCircuitBreaker`'s fallback while breakerd could not be asked, whichever `Fallback` it is).
/// - `highway_breaker_client_call_duration_seconds` (timer, recorded in nanoseconds), dimension `resource`: how
///   long each protected operation that ran took, whether it succeeded or threw.
///
/// With swift-metrics' default (no backend bootstrapped) there are no instruments at all: `make` returns nil and
/// the breakers neither count nor read the clock for durations. Bootstrap the backend (`MetricsSystem.bootstrap`)
/// before creating breakers, as swift-metrics instruments are bound to the factory in force when they are made.
///
/// A class, so that a breaker's `metrics` is one pointer: the call path tests it against nil and copies nothing.
final class CallMetrics: Sendable {
    /// The counter's name.
    static let callsLabel = "highway_breaker_client_calls_total"
    /// The timer's name.
    static let durationLabel = "highway_breaker_client_call_duration_seconds"

    /// Calls whose protected operation ran.
    let allowed: Counter
    /// Calls rejected with `CircuitOpenError`.
    let rejected: Counter
    /// The protected operation's duration, shared by every source of one breaker.
    let duration: CoreMetrics.Timer
    private let resource: String
    private let factory: any MetricsFactory

    private init(
        resource: String,
        source: CircuitOpenError.Source,
        duration: CoreMetrics.Timer,
        factory: any MetricsFactory
    ) {
        func counter(_ outcome: String) -> Counter {
            Counter(
                label: Self.callsLabel,
                dimensions: [("resource", resource), ("outcome", outcome), ("source", source.rawValue)],
                factory: factory
            )
        }
        self.allowed = counter("allowed")
        self.rejected = counter("rejected")
        self.duration = duration
        self.resource = resource
        self.factory = factory
    }

    /// The instruments for the calls of `resource` that `source` decides, from the metrics factory in force
    /// (`MetricsSystem.factory`); nil when that is swift-metrics' no-op default.
    static func make(resource: String, source: CircuitOpenError.Source) -> CallMetrics? {
        let factory = MetricsSystem.factory
        guard !(factory is NOOPMetricsHandler) else { return nil }
        let duration = CoreMetrics.Timer(
            label: durationLabel,
            dimensions: [("resource", resource)],
            preferredDisplayUnit: .seconds,
            factory: factory
        )
        return CallMetrics(resource: resource, source: source, duration: duration, factory: factory)
    }

    /// The same resource's instruments for the calls that `source` decides (the same duration timer).
    func decided(by source: CircuitOpenError.Source) -> CallMetrics {
        CallMetrics(resource: resource, source: source, duration: duration, factory: factory)
    }

    /// Records a protected operation that ran from `start` to `end`.
    @inline(__always)
    func recordDuration(from start: MonotonicInstant, to end: MonotonicInstant) {
        duration.recordNanoseconds((end - start).nanosecondsClamped)
    }
}
