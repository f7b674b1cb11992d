import BreakerProtocol
import BreakerTestSupport
import Glibc
import Testing

@testable import BreakerServer

/// The HTTP port against a live in-process server (real sockets, manual clock): metrics, health, the API, the
/// event stream, roles, and what every malformed request gets.
@Suite struct HTTPPortTests {
    static let clientToken = "client-token-0123456789abcdef"
    static let adminToken = "admin-token-0123456789abcdef"
    /// Trips after two failures in a row.
    static let quickPolicy = #"{"failure_threshold":"2/2","cooldown_ms":30000}"#

    struct Setup {
        let server: TestServer
        let httpPort: Int

        func http() throws -> HTTPTestClient { try HTTPTestClient(port: httpPort) }

        /// Two failures of `resource` over TCP: it opens.
        func trip(_ resource: String, hello: String? = nil) throws {
            let c = try server.connect()
            if let hello { #expect(try c.request(#"{"op":"hello","token":"\#(hello)"}"#).isOK) }
            for _ in 0..<2 {
                let r = try c.request(
                    #"{"op":"report","resource":"\#(resource)","outcome":"failure","policy":\#(HTTPPortTests.quickPolicy)}"#
                )
                #expect(r.isOK, "\(r.jsonText)")
            }
        }
    }

    func start(tokens: Bool = false, _ configure: (inout ServerConfiguration) -> Void = { _ in }) throws -> Setup {
        let server = try TestServer {
            $0.httpListen = ListenAddress(host: "127.0.0.1", port: 0)
            if tokens {
                $0.clientTokens = [Self.clientToken]
                $0.adminTokens = [Self.adminToken]
                $0.requiresAuthentication = true
            }
            configure(&$0)
        }
        let port = try #require(server.server.httpAddress?.port)
        #expect(port != 0 && port != server.port)
        return Setup(server: server, httpPort: port)
    }

    // MARK: Metrics

    @Test func metricsCountStatesTransitionsAndRequests() throws {
        let s = try start()
        try s.trip("db")
        _ = try s.server.connect().request(#"{"op":"status","resource":"nope"}"#)
        let r = try s.http().request("GET", "/metrics")
        #expect(r.status == 200)
        #expect(r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
        let lines = r.text.split(separator: "\n").map(String.init)
        for sample in [
            #"highway_breaker_breakers{state="open"} 1"#, #"highway_breaker_breakers{state="closed"} 0"#,
            #"highway_breaker_transitions_total{cause="failure_threshold"} 1"#,
            #"highway_breaker_requests_total{op="report"} 2"#, #"highway_breaker_errors_total{code="not_found"} 1"#,
            #"highway_breaker_state{resource="db",state="open"} 1"#,
            #"highway_breaker_state{resource="db",state="closed"} 0"#,
            #"highway_breaker_window_failure_ratio{resource="db"} 1"#, "highway_breaker_up 1",
            "highway_breaker_ready 1",
        ] {
            #expect(lines.contains(sample), "missing: \(sample)")
        }
        // Every family has HELP and TYPE, and every sample belongs to a declared family.
        var declared = Set<String>()
        for line in lines where line.hasPrefix("# TYPE ") {
            declared.insert(String(line.split(separator: " ")[2]))
        }
        for family in [
            "highway_breaker_connections", "highway_breaker_watchers", "highway_breaker_commit_seconds",
            "highway_breaker_snapshot_seconds", "highway_breaker_snapshot_failures_total", "process_open_fds",
            "process_resident_memory_bytes", "process_start_time_seconds",
        ] {
            #expect(declared.contains(family), "no TYPE for \(family)")
            #expect(lines.contains { $0.hasPrefix("# HELP \(family) ") }, "no HELP for \(family)")
        }
        for line in lines where !line.hasPrefix("#") {
            let name = String(line.prefix { $0 != "{" && $0 != " " })
            let family = ["_bucket", "_sum", "_count"].reduce(name) { n, suffix in
                n.hasSuffix(suffix) && declared.contains(String(n.dropLast(suffix.count)))
                    ? String(n.dropLast(suffix.count)) : n
            }
            #expect(declared.contains(family), "sample of an undeclared family: \(line)")
        }
    }

    @Test func perResourceSeriesAreCappedWithTheOpenOnesFirst() throws {
        let s = try start { $0.metricsMaximumResources = 2 }
        let c = try s.server.connect()
        for name in ["a1", "a2", "a3", "a4"] { #expect(try c.request(#"{"op":"acquire","resource":"\#(name)"}"#).isOK) }
        try s.trip("z9")
        let text = try s.http().request("GET", "/metrics").text
        let resources = Set(
            text.split(separator: "\n").filter { $0.hasPrefix("highway_breaker_window_failure_ratio{") }
                .map { $0.split(separator: "\"")[1] }
        )
        #expect(resources == ["z9", "a1"])
        #expect(text.contains("highway_breaker_metrics_resources_omitted 3"))
    }

    @Test func labelValuesAndHelpAreEscaped() {
        var out = PrometheusText()
        out.family("m", .gauge, "a \\ b\nc")
        out.sample("m", [("l", "q\"b\\n\nx")], 0.25)
        out.sample("m", [], Double.infinity)
        out.sample("m", [], 3)
        #expect(
            String(decoding: out.bytes, as: UTF8.self)
                == "# HELP m a \\\\ b\\nc\n# TYPE m gauge\nm{l=\"q\\\"b\\\\n\\nx\"} 0.25\nm +Inf\nm 3\n"
        )
    }

    // MARK: Health

    @Test func healthAndReadiness() throws {
        let s = try start(tokens: true)
        let http = try s.http()
        let health = try http.request("GET", "/healthz")
        #expect(health.status == 200 && health.text == "ok\n")
        let ready = try http.request("GET", "/readyz")
        #expect(ready.status == 200 && ready.text == "ready\n")
    }

    // MARK: Roles

    @Test func tokensAndRoles() throws {
        let s = try start(tokens: true)
        try s.trip("db", hello: Self.clientToken)
        let http = try s.http()
        let anonymous = try http.request("GET", "/metrics")
        #expect(anonymous.status == 401 && anonymous.headers["www-authenticate"] == "Bearer")
        #expect(try http.request("GET", "/api/breakers").json.errorCode == "unauthorized")
        let wrong = try http.request("GET", "/api/breakers", headers: [("Authorization", "Bearer not-a-token")])
        #expect(wrong.status == 401 && wrong.json.errorMessage == "the token is not valid")
        // The page itself holds no data and loads without a token.
        #expect(try http.request("GET", "/").status == 200)

        let client = [("Authorization", "Bearer \(Self.clientToken)")]
        #expect(try http.request("GET", "/metrics", headers: client).status == 200)
        let session = try http.request("GET", "/api/session", headers: client).json
        #expect(session["role"]?.stringValue == "client" && session["auth"] == .bool(true))
        let forbidden = try http.request(
            "POST",
            "/api/breakers/db/force",
            headers: client,
            body: #"{"state":"closed"}"#
        )
        #expect(forbidden.status == 403 && forbidden.json.errorCode == "forbidden")

        let admin = [("Authorization", "Bearer \(Self.adminToken)"), ("X-Breaker-Client", "oncall-laptop")]
        let forced = try http.request(
            "POST",
            "/api/breakers/db/force",
            headers: admin,
            body: #"{"state":"closed","reason":"provider fixed"}"#
        )
        #expect(forced.status == 200, "\(forced.text)")
        #expect(forced.json["breaker"]?["state"]?.stringValue == "forced_closed")
        #expect(forced.json["breaker"]?["forced"]?["by"]?.stringValue == "dashboard@oncall-laptop")
        // The audit log says so too.
        let history = try http.request("GET", "/api/breakers/db/history?limit=1", headers: client).json
        #expect(history["transitions"]?.arrayValue?.first?["by"]?.stringValue == "dashboard@oncall-laptop")
    }

    // MARK: The API

    @Test func listPagesStatusAndActions() throws {
        let s = try start()
        let c = try s.server.connect()
        for name in ["p-a", "p-b", "p-c", "q"] {
            #expect(try c.request(#"{"op":"acquire","resource":"\#(name)"}"#).isOK)
        }
        let http = try s.http()
        let first = try http.request("GET", "/api/breakers?prefix=p-&limit=2").json
        #expect(first["breakers"]?.arrayValue?.compactMap { $0["resource"]?.stringValue } == ["p-a", "p-b"])
        #expect(first["next"]?.stringValue == "p-b")
        let second = try http.request("GET", "/api/breakers?prefix=p-&limit=2&after=p-b").json
        #expect(second["breakers"]?.arrayValue?.compactMap { $0["resource"]?.stringValue } == ["p-c"])
        #expect(second["next"] == nil)
        let badLimit = try http.request("GET", "/api/breakers?limit=lots")
        #expect(badLimit.status == 400 && badLimit.json.errorCode == "bad_request")

        let missing = try http.request("GET", "/api/breakers/nope")
        #expect(missing.status == 404 && missing.json.errorCode == "not_found")
        let invalid = try http.request("GET", "/api/breakers/bad%20name")
        #expect(invalid.status == 400 && invalid.json.errorCode == "invalid_resource")
        #expect(try http.request("GET", "/api/breakers/q").json["breaker"]?["state"]?.stringValue == "closed")

        // Force with a TTL; the HTTP loop watches the TTL and the force ends by itself.
        let forced = try http.request(
            "POST",
            "/api/breakers/q/force",
            body: #"{"state":"open","reason":"drill","ttl_ms":600000}"#
        )
        #expect(forced.json["breaker"]?["state"]?.stringValue == "forced_open")
        s.server.clock.advance(by: .milliseconds(600_001))
        var state: String?
        for _ in 0..<500 {
            state = try c.request(#"{"op":"status","resource":"q"}"#)["breaker"]?["state"]?.stringValue
            if state == "closed" { break }
            usleep(10_000)
        }
        #expect(state == "closed")
        // (The jump also passed the idle timeout: that connection was closed.)
        #expect(try http.connection.waitForClose())
        let again = try s.http()

        #expect(try again.request("POST", "/api/breakers/q/force", body: #"{"state":"open"}"#).status == 200)
        let released = try again.request("POST", "/api/breakers/q/release")
        #expect(released.json["breaker"]?["state"]?.stringValue == "closed")
        let reset = try again.request("POST", "/api/breakers/q/reset")
        #expect(reset.status == 200 && reset.json["breaker"]?["generation"]?.intValue == 5)

        for (body, code) in [
            ("not json", "bad_json"), ("[1]", "bad_request"), (#"{"op":"delete","state":"open"}"#, "bad_request"),
            (#"{"state":"sideways"}"#, "bad_request"), ("", "bad_request"),
        ] {
            let r = try again.request("POST", "/api/breakers/q/force", body: body)
            #expect(r.status == 400 && r.json.errorCode == code, "\(body): \(r.text)")
        }
        let stats = try again.request("GET", "/api/stats").json
        #expect(stats["stats"]?["breakers"]?["total"]?.intValue == 4)
    }

    // MARK: Events

    @Test func eventStreamCarriesTransitions() throws {
        let s = try start(tokens: true)
        let http = try s.http()
        try http.send("GET", "/events?prefix=d", headers: [("Authorization", "Bearer \(Self.clientToken)")])
        let head = try #require(try http.connection.readLine())
        #expect(head.hasPrefix("HTTP/1.1 200"))
        var headers: [String] = []
        while let line = try http.connection.readLine(), line != "\r" { headers.append(line.lowercased()) }
        #expect(headers.contains("content-type: text/event-stream\r"))
        #expect(try http.connection.readLine() == "retry: 2000")
        #expect(try http.connection.readLine() == "")
        try s.trip("other", hello: Self.clientToken)
        try s.trip("db", hello: Self.clientToken)
        let data = try #require(try http.connection.readLine())
        #expect(data.hasPrefix("data: "))
        let event = try JSONParser.parse(Array(data.dropFirst(6).utf8))
        #expect(event["event"]?.stringValue == "transition" && event["resource"]?.stringValue == "db")
        #expect(event["to"]?.stringValue == "open")
        // A keep-alive comment after 15 s of silence.
        #expect(try http.connection.readLine() == "")
        s.server.clock.advance(by: .seconds(16))
        #expect(try http.connection.readLine() == ": keep-alive")
    }

    // MARK: Bad input

    @Test(arguments: [
        ("GARBAGE\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\n\r\n", 400),  // no Host
        ("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 404),
        ("DELETE /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 405),
        ("GET /api/breakers/x/force HTTP/1.1\r\nHost: x\r\n\r\n", 405),
        ("POST /api/breakers/x/force HTTP/1.1\r\nHost: x\r\nContent-Length: 65537\r\n\r\n", 413),
        ("GET /" + String(repeating: "a", count: 9_000) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        ("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + String(repeating: "b", count: 9_000) + "\r\n\r\n", 431),
        ("POST /api/breakers/x/force HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
        ("GET / HTTP/3.0\r\nHost: x\r\n\r\n", 505),
    ])
    func badRequestsGetTheirStatus(request: String, status: Int) throws {
        let s = try start()
        let http = try s.http()
        try http.send(raw: request)
        let r = try #require(try http.readResponse())
        #expect(r.status == status, "\(request.prefix(60)): \(r.status) \(r.text)")
        if status != 404 && status != 405 {
            #expect(r.headers["connection"] == "close")
            #expect(try http.connection.waitForClose())
        }
        // The port keeps serving everyone else.
        #expect(try s.http().request("GET", "/healthz").status == 200)
    }

    @Test func aRequestThatNeverEndsGets408AndAnIdleConnectionIsClosed() throws {
        let s = try start()
        let slow = try s.http()
        try slow.send(raw: "GET /metrics HTTP/1.1\r\nHost: x\r\n")
        let idle = try s.http()
        #expect(try idle.request("GET", "/healthz").status == 200)
        s.server.clock.advance(by: .seconds(11))
        let r = try #require(try slow.readResponse())
        #expect(r.status == 408)
        #expect(try slow.connection.waitForClose())
        s.server.clock.advance(by: .seconds(60))
        #expect(try idle.connection.waitForClose())
    }

    @Test func keepAlivePipeliningAndHead() throws {
        let s = try start()
        let http = try s.http()
        try http.send(raw: "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nHEAD /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
        let first = try #require(try http.readResponse())
        #expect(first.status == 200 && first.text == "ok\n")
        let second = try #require(try http.readResponse(head: true))
        #expect(second.status == 200 && second.headers["content-length"] == "6" && second.body.isEmpty)
        let third = try http.request("GET", "/api/session")
        #expect(third.json["role"]?.stringValue == "admin" && third.json["auth"] == .bool(false))
    }

    @Test func requestsABrowserMayHaveSentForAnotherSiteAreRefused() throws {
        let s = try start()
        let http = try s.http()
        #expect(try s.http().request("GET", "/api/breakers").status == 200)
        // A page elsewhere posting to the loopback port (CSRF) …
        let csrf = try http.request(
            "POST",
            "/api/breakers/db/force",
            headers: [("Origin", "http://evil.example")],
            body: #"{"state":"open"}"#
        )
        #expect(csrf.status == 403 && csrf.json.errorCode == "forbidden", "\(csrf.text)")
        let site = try http.request("GET", "/api/breakers", headers: [("Sec-Fetch-Site", "cross-site")])
        #expect(site.status == 403)
        // … a form that cannot send JSON …
        let form = try http.request(
            "POST",
            "/api/breakers/db/reset",
            headers: [("Content-Type", "text/plain")],
            body: "{}"
        )
        #expect(form.status == 415, "\(form.text)")
        // … and DNS rebinding: a loopback port without tokens answers loopback names only.
        let rebound = try http.request("GET", "/api/breakers", headers: [("Host", "attacker.example:7434")])
        #expect(rebound.status == 403 && rebound.json.errorMessage?.contains("loopback names only") == true)
        #expect(try http.request("GET", "/healthz", headers: [("Host", "10.0.0.5:7434")]).status == 200)
        let same = try http.request("GET", "/api/breakers", headers: [("Origin", "http://\(http.host)")])
        #expect(same.status == 200)
        #expect(try http.request("GET", "/api/breakers", headers: [("Host", "localhost:1")]).status == 200)
    }

    @Test func aFullPortMakesRoomByClosingTheLongestIdleConnection() throws {
        let s = try start { $0.httpMaximumConnections = 3 }
        let idle = try (0..<3).map { _ in try s.http() }
        _ = idle
        // The probe still gets through: the oldest idle connection is closed for it.
        #expect(try s.http().request("GET", "/healthz").status == 200)
        var closed = 0
        for c in idle where try c.connection.waitForClose(timeout: .milliseconds(500)) { closed += 1 }
        #expect(closed >= 1)
    }

    @Test func portZeroAndOffAndTheDefault() throws {
        var options = ServerOptions()
        options.listen = "127.0.0.1:7433"
        #expect(try options.configuration().httpListen == ListenAddress(host: "127.0.0.1", port: 7434))
        options.listen = "127.0.0.1:0"
        #expect(try options.configuration().httpListen == ListenAddress(host: "127.0.0.1", port: 0))
        options.httpListen = "off"
        #expect(try options.configuration().httpListen == nil)
        options.httpListen = "0.0.0.0:9000"
        #expect(throws: ServerError.self) { try options.configuration() }
        options.httpListen = "nonsense"
        #expect(throws: ServerError.self) { try options.configuration() }
    }
}
