import ArgumentParser
import BreakerControl
import HighwayBreaker

extension Breakerctl {
    struct Ping: ControlCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check that breakerd answers.",
            discussion: "Example: breakerctl ping --server 10.0.0.5:7433"
        )
        @OptionGroup var globals: Globals
        @ParentCommand var parent: Breakerctl

        func run(client: BreakerClient, out: Output) async throws(ControlFailure) {
            try await call { () async throws(BreakerClientError) in try await client.ping() }
            out.line(out.json ? #"{"ok":true}"# : "breakerd at \(server) answers")
        }
    }

    struct List: ControlCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every circuit at a glance.",
            discussion: "Example: breakerctl list --prefix payments/"
        )
        @OptionGroup var globals: Globals
        @ParentCommand var parent: Breakerctl
        @Option(help: "Only resources whose names start with this.") var prefix = ""

        func run(client: BreakerClient, out: Output) async throws(ControlFailure) {
            let all = try await call { () async throws(BreakerClientError) in try await client.list(prefix: prefix) }
            if out.json {
                for breaker in all { out.line(ControlJSON.breaker(breaker)) }
            } else {
                out.line(out.formatter.table(all))
            }
        }
    }

    struct Status: ControlCommand {
        static let configuration = CommandConfiguration(
            abstract: "One circuit in detail.",
            discussion: "Example: breakerctl status payments-db"
        )
        @OptionGroup var globals: Globals
        @ParentCommand var parent: Breakerctl
        @Argument(help: "The resource.") var name: String

        func run(client: BreakerClient, out: Output) async throws(ControlFailure) {
            out.breaker(try await call { () async throws(BreakerClientError) in try await client.status(name) })
        }
    }

    struct Open: ControlCommand {
        static let configuration = CommandConfiguration(
            abstract: "Force a circuit open for the whole fleet (every call is rejected).",
            discussion: #"Example: breakerctl open payments-db --reason "provider outage, INC-4711" --for 30m"#
        )
        @OptionGroup var globals: Globals
        @ParentCommand var parent: Breakerctl
        @OptionGroup var force: ForceOptions

        func run(client: BreakerClient, out: Output) async throws(ControlFailure) {
            try await force.run(.open, client: client, out: out, server: server)
        }
    }

    struct Close: ControlCommand {
        static let configuration = CommandConfiguration(
            abstract: "Force a circuit closed for the whole fleet (every call goes ahead; it never trips).",
            discussion: #"Example: breakerctl close search --reason "false alarms during deploy" --for 15m"#
        )
        @OptionGroup var globals: Globals
        @ParentCommand var parent: Breakerctl
        @OptionGroup var force: ForceOptions

        func run(client: BreakerClient, out: Output) async throws(ControlFailure) {
            try await force.run(.closed, client: client, out: out, server: server)
        }
    }

    struct Release: ControlCommand {
        static let configuration = CommandConfiguration(
            abstract: "End a force: back to automatic (closed, empty window).",
            discussion: "Example: breakerctl release payments-db"
        )
        @OptionGroup var globals: Globals
        @ParentCommand var parent: Breakerctl
        @Argument(help: "The resource.") var name: String

        func run(client: BreakerClient, out: Output) async throws(ControlFailure) {
            let b = try await call { () async throws(BreakerClientError) in try await client.release(name) }
            out.breaker(b, human: "\(name): \(out.formatter.paint(b.state, b.state.rawValue)) (automatic)")
        }
    }

    struct Reset: ControlCommand {
        static let configuration = CommandConfiguration(
            abstract: "Return a circuit to closed with an empty window.",
            discussion: "Example: breakerctl reset payments-db"
        )
        @OptionGroup var globals: Globals
        @ParentCommand var parent: Breakerctl
        @Argument(help: "The resource.") var name: String

        func run(client: BreakerClient, out: Output) async throws(ControlFailure) {
            let b = try await call { () async throws(BreakerClientError) in try await client.reset(name) }
            out.breaker(b, human: "\(name): reset to \(out.formatter.paint(b.state, b.state.rawValue))")
        }
    }

    struct Configure: ControlCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a circuit or replace its policy.",
            discussion:
                "Example: breakerctl configure payments-db --failure-threshold 5/20 --success-threshold 3/3 --cooldown 30s --window 10s/10\n"
                + "         breakerctl configure search --failure-threshold 5/20 --slow-call-ms 800 "
                + "--slow-call-threshold 10/20 --cooldown 10s --cooldown-max 10m --cooldown-jitter 0.2 "
                + "--min-failing-clients 2 --shadow"
        )
        @OptionGroup var globals: Globals
        @ParentCommand var parent: Breakerctl
        @Argument(help: "The resource.") var name: String
        @Option(help: "Trip at k/n failures (not reduced; n is the default window).") var failureThreshold: String
        @Option(help: "In half-open, close at k/n successful probes.") var successThreshold: String?
        @Option(help: "How long to stay open (e.g. 30s).") var cooldown: String?
        @Option(help: "N (the last N calls) or T/B (the last T in B buckets, e.g. 10s/10).") var window: String?
        @Option(help: "Fewest calls in the window before it may trip.") var minCalls: Int?
        @Option(help: "Probes in one half-open period.") var halfOpenPermits: Int?
        @Option(help: "How long a probe permit stays valid (e.g. 10s).") var permitTtl: String?
        @Option(help: "A call taking at least this many ms is slow (needs --slow-call-threshold).")
        var slowCallMs: Int?
        @Option(help: "Trip at k/n slow calls (needs --slow-call-ms).") var slowCallThreshold: String?
        @Option(help: "Grow the cooldown after each failed half-open, up to this (e.g. 10m).") var cooldownMax: String?
        @Option(help: "Each failed half-open multiplies the cooldown by this, 1-10 (default 2; needs --cooldown-max).")
        var cooldownMultiplier: Double?
        @Option(help: "Scale each cooldown by a random factor in [1-X, 1+X], X from 0 to 1.")
        var cooldownJitter: Double?
        @Flag(help: "Shadow mode: run the rules but never reject a call (replies say would_allow:false).")
        var shadow = false
        @Option(help: "Trip on failures only when they came from at least N distinct clients (1-1000).")
        var minFailingClients: Int?

        func policy() throws(ControlFailure) -> BreakerPolicy {
            try ControlOptions.policy(
                failureThreshold: failureThreshold,
                successThreshold: successThreshold,
                cooldown: cooldown,
                window: window,
                minCalls: minCalls,
                halfOpenPermits: halfOpenPermits,
                permitTTL: permitTtl,
                slowCallMs: slowCallMs,
                slowCallThreshold: slowCallThreshold,
                cooldownMax: cooldownMax,
                cooldownMultiplier: cooldownMultiplier,
                cooldownJitter: cooldownJitter,
                shadow: shadow,
                minFailingClients: minFailingClients
            )
        }

        func validate() throws { _ = try policy() }

        func run(client: BreakerClient, out: Output) async throws(ControlFailure) {
            let policy = try policy()
            out.breaker(
                try await call { () async throws(BreakerClientError) in try await client.configure(name, policy: policy)
                }
            )
        }
    }

    struct Delete: ControlCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a circuit and its history.",
            discussion: "Example: breakerctl delete old-service"
        )
        @OptionGroup var globals: Globals
        @ParentCommand var parent: Breakerctl
        @Argument(help: "The resource.") var name: String

        func run(client: BreakerClient, out: Output) async throws(ControlFailure) {
            try await call { () async throws(BreakerClientError) in try await client.delete(name) }
            out.line(out.json ? #"{"ok":true}"# : "deleted \(name)")
        }
    }

    struct Watch: ControlCommand {
        static let configuration = CommandConfiguration(
            abstract: "Live transitions, until Ctrl-C.",
            discussion: "Example: breakerctl watch --prefix payments/"
        )
        @OptionGroup var globals: Globals
        @ParentCommand var parent: Breakerctl
        @Option(help: "Only resources whose names start with this.") var prefix = ""

        func run(client: BreakerClient, out: Output) async throws(ControlFailure) {
            let events = client.watch(prefix: prefix)
            // The header comes once the server watches: every transition after it is printed.
            try await call { () async throws(BreakerClientError) in try await client.waitUntilWatching(prefix: prefix) }
            if !out.json {
                out.line("watching \(prefix.isEmpty ? "every circuit" : "\(prefix)*") on \(server) (Ctrl-C to stop)")
            }
            for await event in events {
                var formatter = out.formatter
                formatter.nowMs = ControlFormatter.wallNowMs()
                out.line(out.json ? ControlJSON.event(event) : formatter.event(event))
            }
        }
    }

    struct History: ControlCommand {
        static let configuration = CommandConfiguration(
            abstract: "A circuit's transitions, newest first, with who and why for operator actions.",
            discussion: "Example: breakerctl history payments-db --limit 20"
        )
        @OptionGroup var globals: Globals
        @ParentCommand var parent: Breakerctl
        @Argument(help: "The resource.") var name: String
        @Option(help: "How many (1-1000).") var limit = 50

        func run(client: BreakerClient, out: Output) async throws(ControlFailure) {
            let records = try await call { () async throws(BreakerClientError) in
                try await client.history(name, limit: limit)
            }
            if out.json {
                for record in records { out.line(ControlJSON.transition(record)) }
            } else {
                out.line(out.formatter.history(records))
            }
        }
    }

    struct Cluster: ControlCommand {
        static let configuration = CommandConfiguration(
            abstract: "The replicas of a cluster, its leader and lease, and etcd's health.",
            discussion: "Example: breakerctl cluster --server 10.0.0.1:7433,10.0.0.2:7433,10.0.0.3:7433"
        )
        @OptionGroup var globals: Globals
        @ParentCommand var parent: Breakerctl

        func run(client: BreakerClient, out: Output) async throws(ControlFailure) {
            let c = try await call { () async throws(BreakerClientError) in try await client.cluster() }
            out.line(out.json ? ControlJSON.cluster(c) : out.formatter.cluster(c, server: server))
        }
    }

    struct Stats: ControlCommand {
        static let configuration = CommandConfiguration(
            abstract: "The server's counters.",
            discussion: "Example: breakerctl stats --json | jq .breakers"
        )
        @OptionGroup var globals: Globals
        @ParentCommand var parent: Breakerctl

        func run(client: BreakerClient, out: Output) async throws(ControlFailure) {
            let s = try await call { () async throws(BreakerClientError) in try await client.stats() }
            out.line(out.json ? ControlJSON.stats(s) : out.formatter.stats(s))
        }
    }
}

/// What `open` and `close` take: the resource, a reason, and how long.
struct ForceOptions: ParsableArguments {
    @Argument(help: "The resource.") var name: String
    @Option(help: "Why (kept in the audit log).") var reason: String?
    @Option(name: .customLong("for"), help: "End the force by itself after this long (e.g. 10m, 1h).") var duration:
        String?

    func validate() throws {
        if let duration { _ = try ControlOptions.duration(duration, option: "--for") }
    }

    func run(
        _ target: BreakerForce.Target,
        client: BreakerClient,
        out: Output,
        server: String
    ) async throws(ControlFailure) {
        let ttl = try duration.map { (d) throws(ControlFailure) in try ControlOptions.duration(d, option: "--for") }
        let b = try await ControlSession.call(server: server) { () async throws(BreakerClientError) in
            try await client.force(name, target, reason: reason, ttl: ttl)
        }
        let until = b.forced?.remainingMs.map { " for \(out.formatter.duration(ms: $0))" } ?? " until released"
        out.breaker(
            b,
            human: "\(name): \(out.formatter.paint(b.state, b.state.rawValue))\(until)"
                + (reason.map { " (\($0))" } ?? "")
        )
    }
}
