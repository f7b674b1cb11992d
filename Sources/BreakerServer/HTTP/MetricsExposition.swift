import BreakerCore
import BreakerProtocol

/// `GET /metrics`: every figure is read at scrape time from the counters the server keeps anyway (per-loop
/// request and error counts, the registry's transition counts, the durable writer's figures); nothing is added
/// per request. Per-resource series cover at most `metricsMaximumResources` breakers, those not closed first.
enum MetricsExposition {
    /// What the HTTP loop knows that the context does not.
    struct Extras {
        var httpConnections: Int
        var readiness: String?
    }

    static func render(_ context: ServerContext, _ extras: Extras) -> [UInt8] {
        var out = PrometheusText()
        let handler = context.handler
        let stats = context.stats
        let registry = context.registry
        let persistence = handler.persistenceStats()

        out.single("highway_breaker_up", .gauge, "1 while breakerd answers scrapes.", 1)
        out.family("highway_breaker_info", .gauge, "breakerd's version (the value is always 1).")
        out.sample("highway_breaker_info", [("version", handler.serverVersion)], 1)
        out.single(
            "highway_breaker_ready",
            .gauge,
            "1 when /readyz answers 200: the database is restored and its last write succeeded.",
            extras.readiness == nil ? 1 : 0
        )

        let byState = registry.countsByState()
        out.family("highway_breaker_breakers", .gauge, "Breakers held, by state.")
        for state in BreakerState.allCases {
            out.sample("highway_breaker_breakers", [("state", state.rawValue)], byState[state] ?? 0)
        }
        out.single(
            "highway_breaker_breakers_limit",
            .gauge,
            "The most breakers the server holds (--max-breakers).",
            Double(registry.maximumBreakers)
        )

        out.family("highway_breaker_transitions_total", .counter, "State transitions since start, by cause.")
        for (cause, n) in registry.transitionsByCause.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            out.sample("highway_breaker_transitions_total", [("cause", cause.rawValue)], n)
        }

        let totals = stats.totals()
        out.family("highway_breaker_requests_total", .counter, "Requests answered since start, by operation.")
        for (i, op) in OperationName.allCases.enumerated() {
            out.sample("highway_breaker_requests_total", [("op", op.rawValue)], totals.operations[i])
        }
        out.family("highway_breaker_errors_total", .counter, "Error replies since start, by error code.")
        let rejected = stats.rejectedConnections.load(ordering: .relaxed)
        for (i, code) in ErrorCode.allKnown.enumerated() {
            let n = totals.errorsByCode[i] + (code == .tooManyConnections ? rejected : 0)
            out.sample("highway_breaker_errors_total", [("code", code.rawValue)], n)
        }

        out.single(
            "highway_breaker_connections",
            .gauge,
            "Protocol (TCP) connections open now.",
            Double(stats.currentConnections.load(ordering: .relaxed))
        )
        out.single(
            "highway_breaker_connections_accepted_total",
            .counter,
            "Protocol connections accepted since start.",
            Double(stats.totalConnections.load(ordering: .relaxed))
        )
        out.single(
            "highway_breaker_http_connections",
            .gauge,
            "HTTP connections open now.",
            Double(extras.httpConnections)
        )
        out.single(
            "highway_breaker_watchers",
            .gauge,
            "Connections watching a prefix (TCP watch and the dashboard's event streams).",
            Double(context.hub.count)
        )
        out.single(
            "highway_breaker_slow_consumer_disconnects_total",
            .counter,
            "Connections closed because they did not read their output.",
            Double(stats.slowConsumerDisconnects.load(ordering: .relaxed))
        )

        out.histogram(
            "highway_breaker_commit_seconds",
            "How long each database transaction of changes took (failed ones included).",
            persistence.commitDurations
        )
        out.single(
            "highway_breaker_commit_failures_total",
            .counter,
            "Database transactions of changes that failed (their requests got an error).",
            Double(persistence.commitFailures)
        )
        out.single(
            "highway_breaker_snapshot_seconds",
            .gauge,
            "How long the last successful snapshot of the breakers' windows took.",
            persistence.lastSnapshotSeconds
        )
        out.single(
            "highway_breaker_snapshots_total",
            .counter,
            "Snapshots written since start.",
            Double(persistence.count)
        )
        out.single(
            "highway_breaker_snapshot_failures_total",
            .counter,
            "Snapshots that failed since start.",
            Double(persistence.failures)
        )
        if let at = persistence.atMs {
            out.single(
                "highway_breaker_last_snapshot_timestamp_seconds",
                .gauge,
                "When the last successful snapshot ended, in seconds since the Unix epoch.",
                Double(at) / 1_000
            )
        }

        let limit = context.configuration.metricsMaximumResources
        let rows = context.registry.metricsRows(limit: limit)
        out.family(
            "highway_breaker_state",
            .gauge,
            "1 for the breaker's current state, 0 for the others (at most --metrics-max-resources breakers, "
                + "those not closed first)."
        )
        for row in rows {
            for state in BreakerState.allCases {
                out.sample(
                    "highway_breaker_state",
                    [("resource", row.resource), ("state", state.rawValue)],
                    row.state == state ? 1 : 0
                )
            }
        }
        out.family(
            "highway_breaker_window_failure_ratio",
            .gauge,
            "Failures over calls in the breaker's window (0 for an empty window)."
        )
        for row in rows {
            let ratio = row.windowCalls == 0 ? 0 : Double(row.windowFailures) / Double(row.windowCalls)
            out.sample("highway_breaker_window_failure_ratio", [("resource", row.resource)], ratio)
        }
        out.single(
            "highway_breaker_metrics_resources_omitted",
            .gauge,
            "Breakers left out of the per-resource series by --metrics-max-resources.",
            Double(max(0, registry.breakerCount - rows.count))
        )

        let process = ProcessMetrics.now()
        if let v = process.residentMemoryBytes {
            out.single("process_resident_memory_bytes", .gauge, "Resident memory size in bytes.", Double(v))
        }
        if let v = process.virtualMemoryBytes {
            out.single("process_virtual_memory_bytes", .gauge, "Virtual memory size in bytes.", Double(v))
        }
        if let v = process.cpuSeconds {
            out.single("process_cpu_seconds_total", .counter, "Total user and system CPU time spent in seconds.", v)
        }
        if let v = process.openDescriptors {
            out.single("process_open_fds", .gauge, "Number of open file descriptors.", Double(v))
        }
        if let v = process.maximumDescriptors {
            out.single("process_max_fds", .gauge, "Maximum number of open file descriptors.", Double(v))
        }
        out.single(
            "process_start_time_seconds",
            .gauge,
            "Start time of the process since unix epoch in seconds.",
            Double(stats.startedAt) / 1_000
        )
        return out.bytes
    }
}
