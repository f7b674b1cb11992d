import ArgumentParser
import HighwayBreaker

/// How the driver's `SharedCircuitBreaker` decides calls: `--consistency strict|leased` (default strict).
struct DriverMode: ParsableArguments {
    /// The breaker's consistency, as the command line names it.
    enum Consistency: String, ExpressibleByArgument, CaseIterable {
        case strict
        case leased
    }

    @Option(help: "strict (every call asks breakerd) or leased (closed circuits decide locally under a lease).")
    var consistency: Consistency = .strict

    /// The consistency to pass to `SharedCircuitBreaker`.
    var breakerConsistency: SharedCircuitBreaker.Consistency {
        switch consistency {
        case .strict: .strict
        case .leased: .leased
        }
    }
}
