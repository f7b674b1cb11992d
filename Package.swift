// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "HighwayBreaker",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "breakerd", targets: ["breakerd"]),
        .executable(name: "breakerctl", targets: ["breakerctl"]),
        .library(name: "HighwayBreaker", targets: ["HighwayBreaker"]),
        .library(name: "BreakerCore", targets: ["BreakerCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        // `swift package generate-documentation` (docs/build.sh): the DocC catalogs, built in CI (issue #20).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // Pure logic: fractions, policies, windows and the state machine. No I/O, no clock reads.
        .target(name: "BreakerCore"),
        // Monotonic clocks: the system one and a manual one for tests. The only place that reads time.
        .target(name: "BreakerClock", dependencies: ["BreakerCore"]),
        // Wire protocol v1: JSON parsing and writing, requests, replies, events (shared by server and client).
        .target(name: "BreakerProtocol", dependencies: ["BreakerCore"]),
        // The system SQLite (Debian libsqlite3-dev), as the design card asks: no GRDB, no sqlite-nio.
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // The system OpenSSL (Debian libssl-dev), as the issue asks: a module map and a few inline shims, no package.
        .systemLibrary(name: "CTLS", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        // TLS sessions over memory buffers (for non-blocking event loops) and contexts for both sides.
        .target(name: "BreakerTLS", dependencies: ["CTLS"]),
        // etcd's v3 JSON gateway over HTTP/1.1 (no gRPC stack), for cluster mode (issue #19).
        .target(name: "BreakerEtcd", dependencies: ["BreakerCore", "BreakerProtocol", "BreakerTLS", "CBreakerSystem"]),
        // The SQLite snapshot store: schema, migrations, one-writer lock, durable changes, snapshots.
        .target(name: "BreakerStore", dependencies: ["BreakerCore", "CSQLite", "CBreakerSystem"]),
        // Linux system headers Swift's Glibc module leaves out (epoll, eventfd).
        .target(name: "CBreakerSystem"),
        // The server: epoll event loops, the sharded breaker registry, watchers, auth and limits.
        .target(
            name: "BreakerServer",
            dependencies: [
                "BreakerCore", "BreakerClock", "BreakerProtocol", "BreakerStore", "BreakerTLS", "BreakerEtcd",
                "CBreakerSystem", .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The server executable: flags, logging, signals; everything else is in BreakerServer.
        .executableTarget(
            name: "breakerd",
            dependencies: ["BreakerServer", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // breakerctl's logic: option parsing, tables, durations, exit codes (reachable by tests).
        .target(name: "BreakerControl", dependencies: ["HighwayBreaker", "BreakerProtocol"]),
        // The operators' CLI: thin commands over BreakerControl and BreakerClient.
        .executableTarget(
            name: "breakerctl",
            dependencies: [
                "BreakerControl", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The load generator of benchmarks/run.sh: drives breakerd and Redis with the same C code.
        // With --tls-ca it speaks TLS through the system OpenSSL (Debian libssl-dev), as CTLS does.
        .executableTarget(
            name: "breaker-bench",
            linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]
        ),
        // The in-process call-path benchmark (benchmarks/RESULTS-inprocess.md): `run` on one shared policy from
        // 1–64 threads.
        .executableTarget(name: "breaker-inprocess-bench", dependencies: ["HighwayBreaker"]),
        // The example: worker processes sharing one circuit against a flaky fake dependency.
        .executableTarget(
            name: "breaker-demo",
            dependencies: [
                "HighwayBreaker", "BreakerServer", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // A separate process that uses SharedCircuitBreaker, for tests that need real processes.
        .executableTarget(
            name: "breaker-driver",
            dependencies: ["HighwayBreaker", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // What users import: in-process policies (and, later, the shared breaker client).
        .target(
            name: "HighwayBreaker",
            dependencies: [
                "BreakerCore", "BreakerClock", "BreakerProtocol", "BreakerTLS", "CBreakerSystem",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),

        // Helpers for live tests: socket clients, breakerd processes, in-process servers on a manual clock.
        .target(
            name: "BreakerTestSupport",
            dependencies: [
                "BreakerProtocol", "BreakerServer", "BreakerClock", "BreakerTLS",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        .testTarget(name: "BreakerCoreTests", dependencies: ["BreakerCore"]),
        .testTarget(name: "BreakerProtocolTests", dependencies: ["BreakerProtocol"]),
        .testTarget(name: "BreakerTLSTests", dependencies: ["BreakerTLS", "BreakerTestSupport"]),
        .testTarget(name: "BreakerEtcdTests", dependencies: ["BreakerEtcd", "BreakerTLS", "BreakerTestSupport"]),
        // CSQLite: the migration tests build old databases with raw SQL.
        .testTarget(name: "BreakerStoreTests", dependencies: ["BreakerStore", "BreakerCore", "CSQLite"]),
        .testTarget(
            name: "BreakerServerTests",
            dependencies: ["BreakerServer", "BreakerProtocol", "BreakerTLS", "BreakerTestSupport", "breakerd"],
            resources: []
        ),
        .testTarget(
            name: "HighwayBreakerTests",
            dependencies: [
                "HighwayBreaker", "BreakerClock", .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]
        ),
        .testTarget(
            name: "BreakerControlTests",
            dependencies: [
                "BreakerControl", "BreakerCore", "BreakerProtocol", "BreakerTestSupport", "HighwayBreaker",
                "breakerctl",
                "breakerd",
            ]
        ),
        .testTarget(
            name: "SharedBreakerTests",
            dependencies: [
                "HighwayBreaker", "BreakerTestSupport", "BreakerProtocol", "breakerd", "breaker-driver", "breaker-demo",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
