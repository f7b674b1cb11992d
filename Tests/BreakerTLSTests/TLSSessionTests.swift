import BreakerTestSupport
import Testing

@testable import BreakerTLS

/// A client session and a server session, bytes moved between them in memory: every case of issue #18's
/// certificate table, on both sides.
@Suite struct TLSSessionTests {
    static let certificates = Result { try TestCertificates() }

    /// Moves bytes both ways until neither side has more to say; returns what each side's read said last.
    static func exchange(_ client: TLSSession, _ server: TLSSession) -> (client: TLSError?, server: TLSError?) {
        var buffer = [UInt8](repeating: 0, count: 16_384)
        var clientError: TLSError?
        var serverError: TLSError?
        if let e = client.handshake() { clientError = e }
        for _ in 0..<20 {
            var toServer: [UInt8] = []
            client.takeOutput(appendingTo: &toServer)
            toServer.withUnsafeBytes { server.receive($0) }
            if serverError == nil, case .failed(let e) = buffer.withUnsafeMutableBytes({ server.read(into: $0) }) {
                serverError = e
            }
            var toClient: [UInt8] = []
            server.takeOutput(appendingTo: &toClient)
            toClient.withUnsafeBytes { client.receive($0) }
            if clientError == nil, case .failed(let e) = buffer.withUnsafeMutableBytes({ client.read(into: $0) }) {
                clientError = e
            }
            if toServer.isEmpty && toClient.isEmpty { break }
        }
        return (clientError, serverError)
    }

    func pair(
        server: TestCertificates.Pair? = nil,
        clientCA: String? = nil,
        trust: String? = nil,
        clientPair: TestCertificates.Pair? = nil,
        name: String = "127.0.0.1"
    ) throws -> (TLSSession, TLSSession) {
        let certs = try Self.certificates.get()
        let s = server ?? certs.server
        let serverContext = try TLSContext.server(
            certificateFile: s.certificate,
            keyFile: s.key,
            clientCAFile: clientCA
        )
        let clientContext = try TLSContext.client(
            caFile: trust ?? certs.caFile,
            certificateFile: clientPair?.certificate,
            keyFile: clientPair?.key
        )
        return (try TLSSession(context: clientContext, serverName: name), try TLSSession(context: serverContext))
    }

    @Test func aHandshakeThenDataBothWays() throws {
        let (client, server) = try pair()
        let (ce, se) = Self.exchange(client, server)
        #expect(ce == nil && se == nil)
        #expect(client.isEstablished && server.isEstablished && client.protocolVersion == "TLSv1.3")
        let request = Array(#"{"op":"ping"}"#.utf8) + [0x0A]
        #expect(request.withUnsafeBytes { client.write($0) } == nil)
        var wire: [UInt8] = []
        client.takeOutput(appendingTo: &wire)
        #expect(!wire.isEmpty && wire != request)
        wire.withUnsafeBytes { server.receive($0) }
        var buffer = [UInt8](repeating: 0, count: 1_024)
        guard case .bytes(let n) = buffer.withUnsafeMutableBytes({ server.read(into: $0) }) else {
            Issue.record("no plaintext")
            return
        }
        #expect(Array(buffer[0..<n]) == request)
        #expect(server.peerCommonName == nil)
    }

    /// Decrypts all that `session` can now, appending it to `into`; returns how the last read ended.
    static func drain(_ session: TLSSession, into received: inout [UInt8]) -> TLSSession.ReadResult {
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while true {
            let result = buffer.withUnsafeMutableBytes { session.read(into: $0) }
            guard case .bytes(let n) = result else { return result }
            received += buffer[0..<n]
        }
    }

    /// The records go out in the pieces a socket takes (the rest stays, in order, while more is written behind
    /// it), and a burst's buffer is given back once it has all gone out.
    @Test func outputGoesOutInPiecesAndABurstsBufferIsReleased() throws {
        let (client, server) = try pair()
        let (ce, se) = Self.exchange(client, server)
        #expect(ce == nil && se == nil)
        let burst = (0..<1_500_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 11) }
        let more = Array("more, written while the burst waits\n".utf8)
        #expect(burst.withUnsafeBytes { server.write($0) } == nil)
        #expect(server.outputBufferCapacity > 1_500_000)
        var received: [UInt8] = []
        var piece = 1
        var rounds = 0
        var writtenBehind = 0
        while server.pendingOutput > 0 && rounds < 10_000 {
            rounds += 1
            // Pieces of every size from 1 byte on, as a full socket would take them.
            let taken = server.sendOutput(keepingCapacity: 65_536) { records in
                let n = min(piece, records.count)
                client.receive(UnsafeRawBufferPointer(rebasing: records[0..<n]))
                return n
            }
            #expect(taken > 0 && taken <= piece)
            piece = piece % 50_000 + 997
            if rounds % 3 == 0 && writtenBehind < 20 {
                // More records behind what waits (the buffer's unread part moves to its front first).
                #expect(more.withUnsafeBytes { server.write($0) } == nil)
                writtenBehind += 1
            }
            _ = Self.drain(client, into: &received)
        }
        let expected = burst + Array(repeating: more, count: writtenBehind).joined()
        let intact = received == expected  // (a Bool: a failed #expect would diff MBs)
        #expect(intact, "\(received.count) of \(expected.count) bytes, not all as sent")
        #expect(writtenBehind == 20)
        let none = server.sendOutput { _ in
            Issue.record("nothing was waiting")
            return 0
        }
        #expect(none == 0)
        #expect(server.outputBufferCapacity <= 65_536)
        // A send that takes nothing leaves everything waiting; the next one sends it, and it decrypts.
        #expect(Array("after\n".utf8).withUnsafeBytes { server.write($0) } == nil)
        let waiting = server.pendingOutput
        #expect(waiting > 0)
        #expect(server.sendOutput { _ in -1 } == -1 && server.pendingOutput == waiting)
        var wire: [UInt8] = []
        server.takeOutput(appendingTo: &wire)
        #expect(wire.count == waiting && server.pendingOutput == 0)
        wire.withUnsafeBytes { client.receive($0) }
        var after: [UInt8] = []
        _ = Self.drain(client, into: &after)
        #expect(after == Array("after\n".utf8))
    }

    /// Reading skips OpenSSL when nothing arrived: a record that comes a byte at a time, data and close_notify in
    /// one chunk, and a key update that asks for one back all still go through.
    @Test func readsKeepUpWithWhatArrivesInAnyPieces() throws {
        let (client, server) = try pair()
        let (ce, se) = Self.exchange(client, server)
        #expect(ce == nil && se == nil)
        var plain: [UInt8] = []
        guard case .needMore = Self.drain(server, into: &plain) else {
            Issue.record("nothing arrived, yet the read did not say so")
            return
        }
        // One record, a byte at a time: nothing until its last byte.
        let line = Array(#"{"op":"ping"}"#.utf8) + [0x0A]
        #expect(line.withUnsafeBytes { client.write($0) } == nil)
        var wire: [UInt8] = []
        client.takeOutput(appendingTo: &wire)
        for (i, byte) in wire.enumerated() {
            [byte].withUnsafeBytes { server.receive($0) }
            let result = Self.drain(server, into: &plain)
            guard case .needMore = result else {
                Issue.record("byte \(i): \(result)")
                return
            }
            #expect(plain.isEmpty == (i < wire.count - 1))
        }
        #expect(plain == line)
        // A key update asking for one back: the server answers it, and records still flow both ways after.
        #expect(client.requestKeyUpdate())
        #expect(line.withUnsafeBytes { client.write($0) } == nil)
        wire = []
        client.takeOutput(appendingTo: &wire)
        wire.withUnsafeBytes { server.receive($0) }
        plain = []
        _ = Self.drain(server, into: &plain)
        #expect(plain == line)
        #expect(line.withUnsafeBytes { server.write($0) } == nil)
        wire = []
        server.takeOutput(appendingTo: &wire)
        wire.withUnsafeBytes { client.receive($0) }
        plain = []
        _ = Self.drain(client, into: &plain)
        #expect(plain == line)
        // Data and the close_notify in one chunk: the data, then "closed".
        #expect(line.withUnsafeBytes { client.write($0) } == nil)
        client.close()
        wire = []
        client.takeOutput(appendingTo: &wire)
        wire.withUnsafeBytes { server.receive($0) }
        plain = []
        let last = Self.drain(server, into: &plain)
        #expect(plain == line)
        guard case .closed = last else {
            Issue.record("after the close_notify: \(last)")
            return
        }
    }

    @Test func theServerNameMayBeTheDNSName() throws {
        let (client, server) = try pair(name: "breakerd.test")
        #expect(Self.exchange(client, server).client == nil)
    }

    @Test func mutualTLSNamesTheClient() throws {
        let certs = try Self.certificates.get()
        let (client, server) = try pair(clientCA: certs.caFile, clientPair: certs.client)
        let (ce, se) = Self.exchange(client, server)
        #expect(ce == nil && se == nil)
        #expect(server.peerCommonName == "client-a")
    }

    @Test func anUnknownCAFailsOnBothSides() throws {
        let certs = try Self.certificates.get()
        let (client, server) = try pair(server: certs.foreignServer)
        let (ce, se) = Self.exchange(client, server)
        #expect(ce?.message.hasPrefix("unknown CA: the server's certificate") == true, "\(String(describing: ce))")
        #expect(se?.message.hasPrefix("unknown CA") == true, "\(String(describing: se))")
    }

    @Test func aNameMismatchFails() throws {
        let (client, server) = try pair(name: "elsewhere.test")
        let (ce, se) = Self.exchange(client, server)
        #expect(ce?.message.hasPrefix("name mismatch") == true, "\(String(describing: ce))")
        #expect(se != nil)
    }

    @Test func anExpiredCertificateFailsOnBothSides() throws {
        let certs = try Self.certificates.get()
        let (client, server) = try pair(server: certs.expired)
        let (ce, se) = Self.exchange(client, server)
        #expect(ce?.message.hasPrefix("the server's certificate has expired") == true, "\(String(describing: ce))")
        #expect(se?.message.contains("expired") == true, "\(String(describing: se))")
        // And an expired client certificate.
        let (c2, s2) = try pair(clientCA: certs.caFile, clientPair: certs.expired)
        let (ce2, se2) = Self.exchange(c2, s2)
        #expect(se2?.message.hasPrefix("the client's certificate has expired") == true, "\(String(describing: se2))")
        #expect(ce2?.message.contains("expired") == true, "\(String(describing: ce2))")
    }

    @Test func mutualTLSWithoutAClientCertificateIsRefused() throws {
        let certs = try Self.certificates.get()
        let (client, server) = try pair(clientCA: certs.caFile)
        let (ce, se) = Self.exchange(client, server)
        #expect(se?.message.hasPrefix("no client certificate") == true, "\(String(describing: se))")
        #expect(ce?.message.hasPrefix("no client certificate") == true, "\(String(describing: ce))")
        // A client certificate from another CA.
        let (c2, s2) = try pair(clientCA: certs.caFile, clientPair: certs.foreignClient)
        let (ce2, se2) = Self.exchange(c2, s2)
        #expect(se2?.message.hasPrefix("unknown CA: the client's certificate") == true, "\(String(describing: se2))")
        #expect(ce2?.message.hasPrefix("unknown CA") == true, "\(String(describing: ce2))")
    }

    @Test func plainTextOnATLSPortFails() throws {
        let certs = try Self.certificates.get()
        let server = try TLSSession(
            context: try TLSContext.server(certificateFile: certs.server.certificate, keyFile: certs.server.key)
        )
        Array(#"{"op":"ping"}"#.utf8 + [0x0A]).withUnsafeBytes { server.receive($0) }
        var buffer = [UInt8](repeating: 0, count: 64)
        guard case .failed(let error) = buffer.withUnsafeMutableBytes({ server.read(into: $0) }) else {
            Issue.record("plain text was not refused")
            return
        }
        #expect(error.message.hasPrefix("not TLS"), "\(error)")
    }

    @Test func badFilesSayWhich() throws {
        let certs = try Self.certificates.get()
        #expect(throws: TLSError.self) {
            try TLSContext.server(certificateFile: "/nonexistent.pem", keyFile: certs.server.key)
        }
        do {
            _ = try TLSContext.server(certificateFile: certs.server.certificate, keyFile: certs.client.key)
            Issue.record("a mismatched key was accepted")
        } catch {
            #expect(error.message.contains("does not match"))
        }
    }
}
