// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "HighwayBreaker",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "HighwayBreaker", targets: ["HighwayBreaker"]),
        .library(name: "BreakerCore", targets: ["BreakerCore"]),
    ],
    targets: [
        // Pure logic: fractions, policies, windows and the state machine. No I/O, no clock reads.
        .target(name: "BreakerCore"),
        // Monotonic clocks: the system one and a manual one for tests. The only place that reads time.
        .target(name: "BreakerClock", dependencies: ["BreakerCore"]),
        // What users import: in-process policies (and, later, the shared breaker client).
        .target(name: "HighwayBreaker", dependencies: ["BreakerCore", "BreakerClock"]),

        .testTarget(name: "BreakerCoreTests", dependencies: ["BreakerCore"]),
        .testTarget(name: "HighwayBreakerTests", dependencies: ["HighwayBreaker", "BreakerClock"]),
    ],
    swiftLanguageModes: [.v6]
)
