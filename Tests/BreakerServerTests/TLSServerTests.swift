import BreakerProtocol
import BreakerTLS
import BreakerTestSupport
import Foundation
import Testing

/// breakerd with TLS (issue #18), as a real process with certificates made at test time: the Swift TLS client
/// and `openssl s_client` talk to it; every bad certificate fails on both sides with its message; mutual TLS
/// names the client in the audit log; SIGHUP rotates the certificate with connections open.
@Suite(.serialized) struct TLSServerTests {
    static let certificates = Result { try TestCertificates() }

    func certs() throws -> TestCertificates { try Self.certificates.get() }

    func server(_ extra: [String] = [], pair: TestCertificates.Pair? = nil) throws -> ServerProcess {
        let c = try certs()
        let p = pair ?? c.server
        return try ServerProcess(
            arguments: ["--tls-cert", p.certificate, "--tls-key", p.key, "--log-level", "debug"] + extra
        )
    }

    func client(trust: String? = nil, pair: TestCertificates.Pair? = nil) throws -> TLSContext {
        try TLSContext.client(
            caFile: trust ?? certs().caFile,
            certificateFile: pair?.certificate,
            keyFile: pair?.key
        )
    }

    /// What the server logged, once it has had a moment to log it.
    func logged(_ server: ServerProcess, _ text: String) -> Bool {
        for _ in 0..<100 {
            if server.stderr.contains(text) { return true }
            usleep(20_000)
        }
        return false
    }

    @Test func theSwiftClientAndOpensslTalkToATLSPort() throws {
        let s = try server()
        let c = try TLSLineClient(port: s.port, context: client())
        #expect(try c.request(#"{"op":"ping"}"#).isOK)
        #expect(try c.request(#"{"op":"acquire","resource":"tls"}"#)["allowed"] == .bool(true))
        // The DNS name of the certificate works as well as its IP address.
        #expect(
            try TLSLineClient(port: s.port, context: client(), serverName: "breakerd.test").request(#"{"op":"ping"}"#)
                .isOK
        )

        let script =
            #"(printf '{"op":"status","resource":"tls"}\n'; sleep 1) | "#
            + "openssl s_client -connect 127.0.0.1:\(s.port) -CAfile \(try certs().caFile) -verify_return_error -quiet -no_ign_eof"
        let out = try runToCompletion("/bin/sh", ["-c", script], timeout: 20)
        #expect(out.stdout.contains(#""resource":"tls""#), "\(out.stdout) \(out.stderr)")
    }

    /// Replies far larger than the socket takes at once, read late: every byte arrives, in order (what a full
    /// socket did not take waits in the connection, later records behind it).
    @Test func largeRepliesReadLateArriveWhole() throws {
        let s = try server()
        let c = try TLSLineClient(port: s.port, context: client())
        let names = (0..<3_000).map { String(format: "tls-backlog-%05d", $0) }
        try c.send(names.map { #"{"op":"acquire","resource":"\#($0)"}"# })
        for _ in names { #expect(try c.readLine()?.contains(#""allowed":true"#) == true) }
        // Ten pages of all 3,000 (about 3 MB of records) and a ping, sent at once; nothing read for a while.
        try c.send(
            Array(repeating: #"{"op":"list","prefix":"tls-backlog-","limit":3000}"#, count: 10) + [#"{"op":"ping"}"#]
        )
        usleep(500_000)
        for page in 0..<10 {
            guard let line = try c.readLine(),
                case .array(let breakers)? = try JSONParser.parse(Array(line.utf8))["breakers"]
            else {
                Issue.record("page \(page): no breakers")
                return
            }
            let got = breakers.compactMap { entry -> String? in
                if case .string(let name)? = entry["resource"] { return name }
                return nil
            }
            #expect(got == names, "page \(page)")
        }
        #expect(try c.readLine().map { try JSONParser.parse(Array($0.utf8)).isOK } == true)
    }

    @Test func aPlainTextClientIsClosed() throws {
        let s = try server()
        let plain = try s.connect()
        try plain.send(#"{"op":"ping"}"#)
        #expect(try plain.waitForClose())
        #expect(logged(s, "not TLS"))
    }

    @Test func eachBadCertificateFailsOnBothSides() throws {
        let c = try certs()
        func failure(_ make: () throws -> Any) -> String {
            do {
                _ = try make()
                return "no failure"
            } catch let error as TLSError {
                return error.message
            } catch {
                return "\(error)"
            }
        }
        // A server certificate from a CA the client does not trust.
        let foreign = try server(pair: c.foreignServer)
        #expect(failure { try TLSLineClient(port: foreign.port, context: client()) }.hasPrefix("unknown CA"))
        #expect(logged(foreign, "TLS failed"))
        // A name the certificate is not for.
        let s = try server()
        let mismatch = failure { try TLSLineClient(port: s.port, context: client(), serverName: "elsewhere.test") }
        #expect(mismatch.hasPrefix("name mismatch"), "\(mismatch)")
        // An expired server certificate.
        let expired = try server(pair: c.expired)
        let old = failure { try TLSLineClient(port: expired.port, context: client()) }
        #expect(old.hasPrefix("the server's certificate has expired"), "\(old)")
        #expect(logged(expired, "expired"))
        // Mutual TLS: no client certificate, one from another CA, an expired one.
        let mutual = try server(["--tls-client-ca", c.caFile])
        let none = failure { try TLSLineClient(port: mutual.port, context: client()).request(#"{"op":"ping"}"#) }
        #expect(none.hasPrefix("no client certificate"), "\(none)")
        #expect(logged(mutual, "no client certificate"))
        let intruder = failure {
            try TLSLineClient(port: mutual.port, context: client(pair: c.foreignClient)).request(#"{"op":"ping"}"#)
        }
        #expect(intruder.hasPrefix("unknown CA"), "\(intruder)")
        #expect(logged(mutual, "unknown CA: the client's certificate"))
        let stale = failure {
            try TLSLineClient(port: mutual.port, context: client(pair: c.expired)).request(#"{"op":"ping"}"#)
        }
        #expect(stale.contains("expired"), "\(stale)")
        #expect(logged(mutual, "the client's certificate has expired"))
    }

    @Test func mutualTLSNamesTheClientInTheAuditLog() throws {
        let c = try certs()
        let s = try server(["--tls-client-ca", c.caFile])
        let conn = try TLSLineClient(port: s.port, context: client(pair: c.client))
        #expect(try conn.request(#"{"op":"configure","resource":"audited","policy":{"failure_threshold":"1/2"}}"#).isOK)
        #expect(try conn.request(#"{"op":"force","resource":"audited","state":"open","reason":"drill"}"#).isOK)
        let history = try conn.request(#"{"op":"history","resource":"audited","limit":1}"#)
        #expect(history["transitions"]?.arrayValue?.first?["by"]?.stringValue == "client-a")
        // A hello name still wins.
        let named = try TLSLineClient(port: s.port, context: client(pair: c.client))
        #expect(try named.request(#"{"op":"hello","client":"oncall"}"#).isOK)
        #expect(try named.request(#"{"op":"release","resource":"audited"}"#).isOK)
        let again = try named.request(#"{"op":"history","resource":"audited","limit":1}"#)
        #expect(again["transitions"]?.arrayValue?.first?["by"]?.stringValue == "oncall")
    }

    @Test func sighupRotatesTheCertificateWithConnectionsOpen() throws {
        let c = try certs()
        let dir = c.directory + "/rotation-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let cert = dir + "/server.pem"
        let key = dir + "/server.key"
        try FileManager.default.copyItem(atPath: c.server.certificate, toPath: cert)
        try FileManager.default.copyItem(atPath: c.server.key, toPath: key)
        let s = try server(pair: TestCertificates.Pair(certificate: cert, key: key))
        let before = try TLSLineClient(port: s.port, context: client())
        #expect(try before.request(#"{"op":"ping"}"#).isOK)

        // A broken file keeps the old certificate, and says why.
        try "not a certificate".write(toFile: cert, atomically: true, encoding: .utf8)
        s.signal(SIGHUP)
        #expect(logged(s, "TLS files not re-read; the old ones stay in use"))
        #expect(try TLSLineClient(port: s.port, context: client()).request(#"{"op":"ping"}"#).isOK)

        // The new certificate (another CA's): new connections get it, the open one keeps going.
        try FileManager.default.removeItem(atPath: cert)
        try FileManager.default.removeItem(atPath: key)
        try FileManager.default.copyItem(atPath: c.foreignServer.certificate, toPath: cert)
        try FileManager.default.copyItem(atPath: c.foreignServer.key, toPath: key)
        s.signal(SIGHUP)
        #expect(logged(s, "TLS certificate, key and CA re-read"))
        #expect(try TLSLineClient(port: s.port, context: client(trust: c.otherCAFile)).request(#"{"op":"ping"}"#).isOK)
        #expect(throws: TLSError.self) { try TLSLineClient(port: s.port, context: client()) }
        #expect(try before.request(#"{"op":"ping"}"#).isOK)
    }

    @Test func flagsGoTogether() throws {
        let c = try certs()
        let onlyCert = try runToCompletion(
            ServerProcess.binaryPath,
            ["--listen", "127.0.0.1:0", "--db", ":memory:", "--tls-cert", c.server.certificate],
            timeout: 20
        )
        #expect(onlyCert.status != 0 && onlyCert.stderr.contains("--tls-cert and --tls-key go together"))
        let badKey = try runToCompletion(
            ServerProcess.binaryPath,
            [
                "--listen", "127.0.0.1:0", "--db", ":memory:", "--tls-cert", c.server.certificate, "--tls-key",
                c.client.key,
            ],
            timeout: 20
        )
        #expect(badKey.status != 0 && badKey.stderr.contains("does not match"), "\(badKey.stderr)")
    }
}
