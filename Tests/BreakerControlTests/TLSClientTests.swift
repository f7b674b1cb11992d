import BreakerProtocol
import BreakerTestSupport
import Foundation
import HighwayBreaker
import Testing

/// The Swift client (`BreakerClient.Configuration.tls`) and `breakerctl` (`--tls-ca`, `--tls-cert`, `--tls-key`
/// and their `BREAKER_TLS_*` variables) against a real breakerd with TLS (issue #18), with certificates made at
/// test time. Every bad certificate fails with a message that says what failed.
@Suite(.serialized) struct TLSClientTests {
    static let certificates = Result { try TestCertificates() }

    func certs() throws -> TestCertificates { try Self.certificates.get() }

    func server(_ extra: [String] = [], pair: TestCertificates.Pair? = nil) throws -> ServerProcess {
        let p = try pair ?? certs().server
        return try ServerProcess(arguments: ["--tls-cert", p.certificate, "--tls-key", p.key] + extra)
    }

    func client(
        _ server: ServerProcess,
        trust: String? = nil,
        pair: TestCertificates.Pair? = nil,
        name: String? = nil
    ) throws -> BreakerClient {
        var config = BreakerClient.Configuration(host: "127.0.0.1", port: server.port)
        config.tls = try BreakerClient.TLSConfiguration(
            caFile: trust ?? certs().caFile,
            certificateFile: pair?.certificate,
            keyFile: pair?.key,
            serverName: name
        )
        config.adminTimeout = .seconds(10)
        config.requestTimeout = .seconds(10)
        config.connectTimeout = .seconds(5)
        return BreakerClient(configuration: config)
    }

    /// The error of connecting with this client, or "connected".
    func connectFailure(_ client: BreakerClient) async -> String {
        defer { client.shutdown() }
        do {
            try await client.connect(timeout: .seconds(2))
            _ = try await client.ping()
            return "connected"
        } catch {
            return client.lastProblem
        }
    }

    /// breakerctl with these arguments and environment, on a thread of its own.
    func ctl(
        _ args: [String],
        env: [String: String] = [:]
    ) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await offPool { try Self.runCtl(args, env: env) }
    }

    static func runCtl(
        _ args: [String],
        env: [String: String]
    ) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ServerProcess.binary(named: "breakerctl"))
        process.arguments = args
        var environment = ProcessInfo.processInfo.environment
        for key in environment.keys where key.hasPrefix("BREAKER_") { environment.removeValue(forKey: key) }
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

    @Test func theSwiftClientAcquiresAndReportsOverTLS() async throws {
        let s = try server()
        let c = try client(s)
        defer { c.shutdown() }
        try await c.connect(timeout: .seconds(10))
        let decision = try await c.acquire("tls-db")
        #expect(decision.allowed)
        _ = try await c.configure("tls-db", policy: BreakerPolicy(failureThreshold: Fraction(1, 2), minimumCalls: 1))
        _ = try await c.report("tls-db", outcome: .failure)
        let denied = try await c.acquire("tls-db")
        #expect(!denied.allowed)
        // A DNS name of the certificate works as well as its address.
        let named = try client(s, name: "breakerd.test")
        #expect(await connectFailure(named) == "connected")
    }

    @Test func theSwiftClientSaysWhatFailed() async throws {
        let c = try certs()
        let s = try server()
        let foreign = await connectFailure(try client(s, trust: c.otherCAFile))
        #expect(foreign.contains("unknown CA"), "\(foreign)")
        let mismatch = await connectFailure(try client(s, name: "elsewhere.test"))
        #expect(mismatch.contains("name mismatch"), "\(mismatch)")
        let expiredServer = try server(pair: c.expired)
        let expired = await connectFailure(try client(expiredServer))
        #expect(expired.contains("expired"), "\(expired)")
        // A plain-text port: the handshake cannot succeed.
        let plain = try ServerProcess(arguments: [])
        let notTLS = await connectFailure(try client(plain))
        #expect(notTLS.contains("TLS"), "\(notTLS)")

        let mutual = try server(["--tls-client-ca", c.caFile])
        let none = await connectFailure(try client(mutual))
        #expect(none.contains("no client certificate"), "\(none)")
        let intruder = await connectFailure(try client(mutual, pair: c.foreignClient))
        #expect(intruder.contains("unknown CA"), "\(intruder)")
        #expect(await connectFailure(try client(mutual, pair: c.client)) == "connected")
    }

    @Test func aMissingFileIsAConfigurationError() throws {
        #expect(throws: ConfigurationError.self) {
            try BreakerClient.TLSConfiguration(caFile: "/nonexistent/ca.pem")
        }
        #expect(throws: ConfigurationError.self) {
            try BreakerClient.TLSConfiguration(caFile: nil, certificateFile: try certs().client.certificate)
        }
    }

    @Test func breakerctlTalksTLS() async throws {
        let c = try certs()
        let s = try server(["--tls-client-ca", c.caFile])
        let at = ["--server", "127.0.0.1:\(s.port)"]
        let mutual = ["--tls-ca", c.caFile, "--tls-cert", c.client.certificate, "--tls-key", c.client.key]
        var r = try await ctl(["ping"] + at + mutual)
        #expect(r.status == 0 && r.stdout.contains("answers"), "\(r.stdout) \(r.stderr)")
        r = try await ctl(["configure", "tls-ctl", "--failure-threshold", "1/2"] + at + mutual)
        #expect(r.status == 0, "\(r.stderr)")
        r = try await ctl(["open", "tls-ctl", "--reason", "drill", "--for", "10m"] + at + mutual)
        #expect(r.status == 0, "\(r.stderr)")
        // The same through the environment.
        r = try await ctl(
            ["status", "tls-ctl"] + at,
            env: [
                "BREAKER_TLS_CA": c.caFile, "BREAKER_TLS_CERT": c.client.certificate, "BREAKER_TLS_KEY": c.client.key,
            ]
        )
        #expect(r.status == 0 && r.stdout.contains("forced_open"), "\(r.stdout) \(r.stderr)")

        // No client certificate: refused, and the message says so.
        r = try await ctl(["ping", "--tls-ca", c.caFile] + at)
        #expect(r.status == 3 && r.stderr.contains("no client certificate"), "\(r.stderr)")
        // A CA that did not sign the server's certificate.
        r = try await ctl(
            ["ping"] + at + ["--tls-ca", c.otherCAFile, "--tls-cert", c.client.certificate, "--tls-key", c.client.key]
        )
        #expect(r.status == 3 && r.stderr.contains("unknown CA"), "\(r.stderr)")
        // A certificate without its key is a usage error.
        r = try await ctl(["ping", "--tls-ca", c.caFile, "--tls-cert", c.client.certificate] + at)
        #expect(r.status == 2 && r.stderr.contains("--tls-cert and --tls-key go together"), "\(r.stderr)")
    }
}
