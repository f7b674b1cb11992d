import BreakerProtocol
import BreakerTestSupport
import Foundation
import Testing

/// The real `breakerd` binary: flags, the listening line, signals, startup refusals.
@Suite struct ServerProcessTests {
    @Test func printsTheListeningLineAndAnswers() throws {
        let server = try ServerProcess(arguments: [])
        let client = try server.connect()
        let reply = try client.request(#"{"op":"acquire","resource":"x"}"#)
        #expect(reply.isOK && reply["allowed"] == .bool(true) && reply["state"] == .string("closed"))
        #expect(reply["generation"] == .integer(0))
    }

    @Test func sigtermStopsWithExitZeroAfterAnsweringInFlightRequests() throws {
        let server = try ServerProcess(arguments: [])
        let client = try server.connect()
        try client.request(#"{"op":"ping"}"#)
        // Requests the server has received but not answered when the signal arrives still get replies.
        let burst =
            (0..<200).map { #"{"id":\#($0),"op":"acquire","resource":"r\#($0 % 7)"}"# }.joined(separator: "\n") + "\n"
        try client.send(raw: burst)
        server.signal(SIGTERM)
        var answered = 0
        while let line = try client.readLine(timeout: .seconds(5)) {
            if line.contains(#""ok":true"#) { answered += 1 }
        }
        let status = server.waitForExit(timeout: 2)
        #expect(status == 0, "exit status \(String(describing: status)); stderr: \(server.stderr)")
        #expect(answered == 200)
    }

    @Test func sigintAlsoStopsGracefully() throws {
        let server = try ServerProcess(arguments: [])
        server.signal(SIGINT)
        #expect(server.waitForExit(timeout: 2) == 0)
    }

    @Test func refusesANonLoopbackAddressWithoutTokens() throws {
        let r = try runToCompletion(ServerProcess.binaryPath, ["--listen", "0.0.0.0:0"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("--client-token-file") && r.stderr.contains("--insecure"), "\(r.stderr)")
    }

    @Test func insecureAllowsANonLoopbackAddress() throws {
        let server = try ServerProcess(arguments: ["--insecure"], listen: "0.0.0.0:0")
        let client = try server.connect()
        #expect(try client.request(#"{"op":"ping"}"#).isOK)
    }

    @Test func badFlagsAreUsageErrors() throws {
        for args in [
            ["--listen", "nonsense"], ["--default-policy", #"{"failure_threshold":"7/3"}"#],
            ["--client-token-file", "/nonexistent/tokens"],
        ] {
            let r = try runToCompletion(ServerProcess.binaryPath, args)
            #expect(r.status != 0, "\(args)")
            #expect(!r.stderr.isEmpty)
        }
    }

    @Test func defaultPolicyFlagAppliesToNewBreakers() throws {
        let server = try ServerProcess(arguments: [
            "--default-policy", #"{"failure_threshold":"1/2","cooldown_ms":5000}"#,
        ])
        let client = try server.connect()
        try client.request(#"{"op":"acquire","resource":"d"}"#)
        let status = try client.request(#"{"op":"status","resource":"d"}"#)
        #expect(status["breaker"]?["policy"]?["failure_threshold"] == .string("1/2"))
        #expect(status["breaker"]?["policy"]?["cooldown_ms"] == .integer(5000))
        #expect(
            status["breaker"]?["policy"]?["success_threshold"] == .null,
            "fields left out take BreakerCore's defaults"
        )
    }

    @Test func helpShowsTheFlags() throws {
        let r = try runToCompletion(ServerProcess.binaryPath, ["--help"])
        #expect(r.status == 0)
        for flag in [
            "--listen", "--client-token-file", "--admin-token-file", "--insecure", "--max-connections",
            "--max-line-bytes", "--max-breakers", "--default-policy", "--log-level",
        ] {
            #expect(r.stdout.contains(flag), "\(flag)")
        }
    }
}
