import BreakerProtocol
import BreakerTestSupport
import Foundation
import Testing

/// The built `breakerctl` against a real `breakerd`: output and exit code of every subcommand.
@Suite struct BreakerctlTests {
    static var ctl: String { ServerProcess.binary(named: "breakerctl") }

    func run(_ args: [String], env: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.ctl)
        process.arguments = args
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "BREAKER_SERVER")
        environment.removeValue(forKey: "BREAKER_TOKEN_FILE")
        for (k, v) in env { environment[k] = v }
        process.environment = environment
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    @Test func statusShowsHowManyConnectionsHoldALease() throws {
        // A long lease, so that a slow machine cannot let one lapse before breakerctl asks.
        let server = try ServerProcess(arguments: ["--lease-ms", "60000"])
        let s = ["--server", "127.0.0.1:\(server.port)"]
        let first = try server.connect()
        let second = try server.connect()
        try first.request(#"{"op":"acquire","resource":"leased-db"}"#)
        var r = try run(["status", "leased-db"] + s)
        #expect(r.status == 0 && r.stdout.contains("leases:     0"), "\(r.stdout)")
        for client in [first, second] {
            let reply = try client.request(#"{"op":"lease","resources":[{"resource":"leased-db","successes":2}]}"#)
            #expect(reply["leases"]?.arrayValue?.first?["lease_ms"] == .integer(60_000))
        }
        r = try run(["status", "leased-db"] + s)
        #expect(r.status == 0 && r.stdout.contains("leases:     2"), "\(r.stdout)")
        r = try run(["status", "leased-db", "--json"] + s)
        #expect(try JSONParser.parse(Array(r.stdout.utf8))["leases"] == .integer(2))
    }

    @Test func everySubcommandAgainstARealServer() throws {
        let server = try ServerProcess(arguments: [])
        let s = ["--server", "127.0.0.1:\(server.port)"]

        var r = try run(["ping"] + s)
        #expect(r.status == 0 && r.stdout.contains("answers"))

        r = try run(
            ["configure", "payments-db", "--failure-threshold", "2/5", "--cooldown", "30s", "--window", "5"] + s
        )
        #expect(r.status == 0 && r.stdout.contains("payments-db") && r.stdout.contains("closed"), "\(r.stderr)")
        let c = try server.connect()
        try c.request(#"{"op":"report","resource":"payments-db","successes":3,"failures":2}"#)

        r = try run(["open", "search", "--reason", "deploy freeze"] + s)
        #expect(r.status == 1 && r.stderr.contains("not_found"), "force needs an existing breaker")
        try c.request(#"{"op":"acquire","resource":"search"}"#)
        r = try run(["open", "search", "--reason", "deploy freeze", "--for", "10m"] + s)
        #expect(
            r.status == 0 && r.stdout.contains("forced_open for 10m") && r.stdout.contains("deploy freeze"),
            "\(r.stdout)"
        )

        r = try run(["list"] + s)
        let lines = r.stdout.split(separator: "\n")
        #expect(r.status == 0 && lines.count == 3)
        #expect(lines[0].hasPrefix("RESOURCE") && lines[0].contains("STATE") && lines[0].contains("CHANGED"))
        #expect(lines[1].hasPrefix("payments-db  open") && lines[1].contains("40%") && lines[1].contains("retry in"))
        #expect(lines[2].hasPrefix("search") && lines[2].contains("forced 9m") || lines[2].contains("forced 10m"))
        #expect(!r.stdout.contains("\u{1B}["), "no colour when stdout is not a terminal")

        r = try run(["list", "--json"] + s)
        let objects = try r.stdout.split(separator: "\n").map { try JSONParser.parse(Array($0.utf8)) }
        #expect(objects.map { $0["resource"]?.stringValue } == ["payments-db", "search"])

        r = try run(["status", "payments-db"] + s)
        #expect(r.status == 0 && r.stdout.contains("state:      open") && r.stdout.contains("retry in:"))
        r = try run(["status", "search", "--json"] + s)
        #expect(try JSONParser.parse(Array(r.stdout.utf8))["forced"]?["reason"] == .string("deploy freeze"))

        r = try run(["close", "search", "--reason", "all clear"] + s)
        #expect(r.status == 0 && r.stdout.contains("forced_closed until released"))
        r = try run(["release", "search"] + s)
        #expect(r.status == 0 && r.stdout.contains("closed (automatic)"))
        r = try run(["reset", "payments-db"] + s)
        #expect(r.status == 0 && r.stdout.contains("reset to closed"))

        r = try run(["history", "search"] + s)
        let h = r.stdout.split(separator: "\n")
        #expect(r.status == 0 && h.count == 3)
        #expect(h[0].contains("forced_closed → closed") && h[0].contains("released"))
        #expect(
            h[2].contains("closed → forced_open") && h[2].contains("by breakerctl")
                && h[2].contains("\"deploy freeze\"")
        )
        r = try run(["history", "search", "--limit", "1", "--json"] + s)
        #expect(try JSONParser.parse(Array(r.stdout.utf8))["cause"] == .string("released"))

        r = try run(["stats"] + s)
        #expect(r.status == 0 && r.stdout.contains("breakers:     2") && r.stdout.contains("transitions:"))
        r = try run(["stats", "--json"] + s)
        #expect(try JSONParser.parse(Array(r.stdout.utf8))["breakers"]?["total"] == .integer(2))

        r = try run(["delete", "search"] + s)
        #expect(r.status == 0 && r.stdout == "deleted search\n")
        r = try run(["status", "search"] + s)
        #expect(r.status == 1 && r.stderr.contains("not_found") && r.stdout.isEmpty)
    }

    @Test func globalOptionsBeforeOrAfterTheSubcommandAndFromTheEnvironment() throws {
        let server = try ServerProcess(arguments: [])
        let addr = "127.0.0.1:\(server.port)"
        #expect(try run(["--server", addr, "ping"]).status == 0)
        #expect(try run(["ping", "--server", addr]).status == 0)
        #expect(try run(["ping"], env: ["BREAKER_SERVER": addr]).status == 0)
        #expect(try run(["--json", "--server", addr, "ping"]).stdout == #"{"ok":true}"# + "\n")
    }

    @Test func forceWithForExpiresOnTheServersClock() throws {
        let server = try TestServer()
        let s = ["--server", "127.0.0.1:\(server.port)"]
        let c = try server.connect()
        try c.request(#"{"op":"acquire","resource":"ttl"}"#)
        #expect(try run(["open", "ttl", "--for", "90s"] + s).status == 0)
        server.clock.advance(by: .seconds(89))
        #expect(try run(["status", "ttl"] + s).stdout.contains("ends in 1s"))
        server.clock.advance(by: .seconds(1))
        var expired = false
        for _ in 0..<100 where !expired {
            expired = try run(["status", "ttl", "--json"] + s).stdout.contains(#""state":"closed""#)
            if !expired { usleep(20_000) }
        }
        #expect(expired)
        #expect(try run(["history", "ttl", "--limit", "1"] + s).stdout.contains("force_expired"))
    }

    @Test func anUnreachableServerIsExitThreeWithinASecond() throws {
        let start = ContinuousClock.now
        let r = try run(["list", "--server", "127.0.0.1:1"])
        #expect(r.status == 3 && r.stderr.contains("cannot reach breakerd at 127.0.0.1:1"))
        #expect(ContinuousClock.now - start < .milliseconds(1_500), "the process, start to end")
    }

    @Test func aClientTokenIsForbiddenToOpen() throws {
        let dir = NSTemporaryDirectory() + "ctl-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "client-token-0123456789abcdef\n".write(toFile: dir + "/client", atomically: true, encoding: .utf8)
        try "admin-token-0123456789abcdef\n".write(toFile: dir + "/admin", atomically: true, encoding: .utf8)
        let server = try ServerProcess(arguments: [
            "--client-token-file", dir + "/client", "--admin-token-file", dir + "/admin",
        ])
        let s = ["--server", "127.0.0.1:\(server.port)"]
        #expect(
            try run(["configure", "x", "--failure-threshold", "1/2", "--token-file", dir + "/admin"] + s).status == 0
        )
        let r = try run(["open", "x", "--token-file", dir + "/client"] + s)
        #expect(r.status == 1 && r.stderr.contains("forbidden"), "\(r.stderr)")
        #expect(try run(["status", "x"] + s, env: ["BREAKER_TOKEN_FILE": dir + "/client"]).status == 0)
        #expect(try run(["status", "x"] + s).status == 1, "no token: unauthorized")
    }

    @Test func usageErrorsAreExitTwo() throws {
        for args in [
            ["open"], ["frobnicate"], ["configure", "x"], ["configure", "x", "--failure-threshold", "nine"],
            ["open", "x", "--for", "soon"], ["list", "--server", "nonsense"],
        ] {
            let r = try run(args)
            #expect(r.status == 2, "\(args): \(r.status) \(r.stderr)")
            #expect(!r.stderr.isEmpty)
        }
    }

    @Test func everySubcommandHasHelpWithAnExample() throws {
        for sub in [
            "ping", "list", "status", "open", "close", "release", "reset", "configure", "delete", "watch", "history",
            "stats",
        ] {
            let r = try run([sub, "--help"])
            #expect(r.status == 0 && r.stdout.contains("Example: breakerctl \(sub)"), "\(sub)")
        }
        #expect(try run(["--help"]).stdout.contains("Exit codes"))
    }

    @Test func watchPrintsLiveTransitionsUntilInterrupted() throws {
        let server = try ServerProcess(arguments: [])
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.ctl)
        process.arguments = ["watch", "--json", "--server", "127.0.0.1:\(server.port)"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        // The server counts the watcher once breakerctl's watch reached it.
        let c = try server.connect()
        var watching = false
        let until = Date().addingTimeInterval(10)
        while !watching && Date() < until {
            watching = try c.request(#"{"op":"stats"}"#)["stats"]?["watchers"] == .integer(1)
            if !watching { usleep(5_000) }  // polling, not a wait for time to pass
        }
        #expect(watching)
        try c.request(#"{"op":"configure","resource":"w","policy":{"failure_threshold":"1/1"}}"#)
        try c.request(#"{"op":"report","resource":"w","outcome":"failure"}"#)
        var collected = Data()
        let deadline = Date().addingTimeInterval(10)
        while !String(decoding: collected, as: UTF8.self).contains("\n") && Date() < deadline {
            collected.append(out.fileHandleForReading.availableData)
        }
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        let line = String(decoding: collected, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
        let event = try JSONParser.parse(Array(line.utf8))
        #expect(
            event["event"] == .string("transition") && event["resource"] == .string("w")
                && event["to"] == .string("open")
        )
    }
}

/// `--version` of both executables: the version the server reports in `hello`.
@Suite struct VersionTests {
    @Test func breakerdAndBreakerctlPrintTheServersVersion() throws {
        let server = try ServerProcess(arguments: [])
        let hello = try server.connect().request(#"{"op":"hello"}"#)
        let version = try #require(hello["version"]?.stringValue)
        #expect(!version.isEmpty)
        for name in ["breakerd", "breakerctl"] {
            let r = try runToCompletion(ServerProcess.binary(named: name), ["--version"])
            #expect(r.status == 0, "\(name): \(r.stderr)")
            #expect(r.stdout == version + "\n", "\(name)")
        }
    }
}

/// Health checks run `breakerctl ping` without a token against a server that requires one.
@Suite struct HealthCheckTests {
    @Test func pingWorksWithoutATokenWhenTheServerRequiresOne() throws {
        let dir = NSTemporaryDirectory() + "hc-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "client-token-0123456789abcdef\n".write(toFile: dir + "/client", atomically: true, encoding: .utf8)
        let server = try ServerProcess(arguments: ["--client-token-file", dir + "/client"])
        let r = try runToCompletion(
            ServerProcess.binary(named: "breakerctl"),
            ["ping", "--server", "127.0.0.1:\(server.port)"]
        )
        #expect(r.status == 0, "\(r.stderr)")
        let denied = try runToCompletion(
            ServerProcess.binary(named: "breakerctl"),
            ["list", "--server", "127.0.0.1:\(server.port)"]
        )
        #expect(denied.status == 1 && denied.stderr.contains("unauthorized"))
    }
}
