import BreakerClock
import BreakerCore
import BreakerProtocol

/// What each path of the HTTP port does, and who may do it. API requests become protocol requests answered by
/// the TCP port's `RequestHandler`, so roles, validation, errors, counters and the audit log are the same.
struct HTTPRouter {
    /// What the loop does with a request.
    /// A force TTL to watch: at that instant the breaker's force ends by itself.
    typealias Expiry = (resource: String, at: MonotonicInstant)

    /// What the loop does with a request.
    enum Outcome {
        case respond(HTTPResponse, expiry: Expiry? = nil)
        /// An action's reply waits for its commit.
        case hold(HeldReply, expiry: Expiry?)
        /// `/events`: the connection now receives the events of `prefix` (already registered with the hub).
        case stream
        /// `/healthz`: ask the event loops.
        case probe
    }

    /// The dashboard's content security policy: nothing from elsewhere, requests to this server only.
    static let dashboardPolicy =
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
        + "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    let context: ServerContext
    let loop: HTTPLoop

    func route(_ request: HTTPRequest, connection c: HTTPConnection) -> Outcome {
        let path = request.pathSegments
        let method = request.method == "HEAD" ? "GET" : request.method
        let json = path.first == "api"

        // Which paths exist, and with which method.
        let allowed: String
        switch path.count {
        case 0: allowed = "GET"
        case 1 where ["healthz", "readyz", "metrics", "events"].contains(path[0]): allowed = "GET"
        case 2 where path[0] == "api" && ["session", "stats", "breakers"].contains(path[1]): allowed = "GET"
        case 3 where path[0] == "api" && path[1] == "breakers": allowed = "GET"
        case 4 where path[0] == "api" && path[1] == "breakers" && path[3] == "history": allowed = "GET"
        case 4 where path[0] == "api" && path[1] == "breakers" && ["force", "release", "reset"].contains(path[3]):
            allowed = "POST"
        default:
            return .respond(
                Self.failure(.notFound, ProtocolError(.notFound, "no such path: \(request.path)"), json: json)
            )
        }
        guard method == allowed else {
            var response = Self.failure(
                .methodNotAllowed,
                ProtocolError(
                    .badRequest,
                    "\(request.path) answers \(allowed == "GET" ? "GET and HEAD" : "POST") only"
                ),
                json: json
            )
            response.headers.append(("Allow", allowed == "GET" ? "GET, HEAD" : "POST"))
            return .respond(response)
        }

        if let refusal = crossSiteRefusal(request, path: path) {
            return .respond(Self.failure(.forbidden, ProtocolError(.forbidden, refusal), json: json))
        }
        if method == "POST", !(request.headers["content-type"] ?? "").lowercased().hasPrefix("application/json") {
            return .respond(
                Self.failure(
                    .unsupportedMediaType,
                    ProtocolError(
                        .badRequest,
                        "send the action with Content-Type: application/json (a JSON object body)"
                    ),
                    json: json
                )
            )
        }

        switch path.first {
        case nil:
            // The page holds no data: it asks for a token and sends it with every request it makes.
            return .respond(
                HTTPResponse(
                    status: .ok,
                    headers: [
                        ("Content-Type", "text/html; charset=utf-8"), ("Content-Security-Policy", Self.dashboardPolicy),
                        ("X-Frame-Options", "DENY"), ("Referrer-Policy", "no-referrer"),
                    ],
                    body: DashboardPage.html
                )
            )
        case "healthz":
            return .probe
        case "readyz":
            if let reason = loop.readiness() { return .respond(.text(.serviceUnavailable, "not ready: \(reason)")) }
            return .respond(.text(.ok, "ready"))
        default:
            break
        }

        // Everything else needs a role.
        let role: Role
        switch authenticate(request) {
        case .success(let r): role = r
        case .failure(let error):
            var response = Self.failure(.unauthorized, error, json: json)
            response.headers.append(("WWW-Authenticate", "Bearer"))
            return .respond(response)
        }
        c.session.role = role
        c.session.clientName = "dashboard@" + Self.clientName(request, peer: c.peer)

        // A cluster replica serves breakers (the API and their events) only while it leads.
        if path[0] != "metrics", let gate = context.gate, !gate.mayServe() {
            return .respond(Self.failure(.serviceUnavailable, gate.notLeader(), json: true))
        }

        switch path[0] {
        case "metrics":
            let body = MetricsExposition.render(
                context,
                .init(httpConnections: loop.connections.count, readiness: loop.readiness())
            )
            return .respond(
                HTTPResponse(
                    status: .ok,
                    headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")],
                    body: body
                )
            )
        case "events":
            if request.method == "HEAD" {
                return .respond(HTTPResponse(status: .ok, headers: [("Content-Type", "text/event-stream")]))
            }
            return watch(prefix: request.query["prefix"] ?? "", connection: c)
        default:
            return api(path, request, connection: c)
        }
    }

    // MARK: The JSON API

    private func api(_ path: [String], _ request: HTTPRequest, connection c: HTTPConnection) -> Outcome {
        var w = JSONWriter()
        w.beginObject()
        switch (path[1], path.count) {
        case ("session", _):
            w.member("ok", true)
            w.member("role", c.session.role?.rawValue ?? "none")
            w.member("auth", context.configuration.requiresAuthentication)
            w.endObject()
            w.newline()
            return .respond(.json(.ok, w.bytes))
        case ("stats", _):
            w.member("op", "stats")
        case (_, 2):
            w.member("op", "list")
            if let prefix = request.query["prefix"] { w.member("prefix", prefix) }
            if let after = request.query["after"] { w.member("after", after) }
            if let limit = request.query["limit"] { Self.number(limit, "limit", into: &w) }
        case (_, 3):
            w.member("op", "status")
            w.member("resource", path[2])
        case (_, _) where path[3] == "history":
            w.member("op", "history")
            w.member("resource", path[2])
            Self.number(request.query["limit"] ?? "20", "limit", into: &w)
        case (_, _) where path[3] == "force":
            let body: [String: JSONValue]
            switch Self.forceBody(request.body) {
            case .success(let members): body = members
            case .failure(let error): return .respond(Self.failure(.badRequest, error, json: true))
            }
            w.member("op", "force")
            w.member("resource", path[2])
            for (name, value) in body.sorted(by: { $0.key < $1.key }) {
                w.dynamicKey(name)
                w.value(value)
            }
        default:
            w.member("op", path[3] == "release" ? "release" : "reset")
            w.member("resource", path[2])
        }
        w.endObject()
        return answer(w.bytes, connection: c)
    }

    /// Answers one protocol request line as the TCP port would, for this connection's role.
    private func answer(_ line: [UInt8], connection c: HTTPConnection) -> Outcome {
        var out = JSONWriter()
        let answer = line.withUnsafeBytes { context.handler.handle(line: $0, session: &c.session, out: &out) }
        switch answer.disposition {
        case .hold(let reply):
            return .hold(reply, expiry: answer.expiry)
        case .done, .closeAfterReply:
            return .respond(Self.apiResponse(out.bytes), expiry: answer.expiry)
        }
    }

    /// `/events`: registers the connection as a watcher of `prefix` through the protocol's `watch`.
    private func watch(prefix: String, connection c: HTTPConnection) -> Outcome {
        var w = JSONWriter()
        w.beginObject()
        w.member("op", "watch")
        w.member("prefix", prefix)
        w.endObject()
        var out = JSONWriter()
        _ = w.bytes.withUnsafeBytes { context.handler.handle(line: $0, session: &c.session, out: &out) }
        let response = Self.apiResponse(out.bytes)
        guard response.status.code == 200 else { return .respond(response) }
        return .stream
    }

    /// Why a request that a browser may have sent on another site's behalf is refused, if it is: an `Origin`
    /// other than this server's, a `Sec-Fetch-Site` of `cross-site`, or, on a loopback port without token files
    /// (where every request is admin), a `Host` that is not a loopback name (DNS rebinding). Health checks are
    /// exempt: they act on nothing and read nothing.
    private func crossSiteRefusal(_ request: HTTPRequest, path: [String]) -> String? {
        if path == ["healthz"] || path == ["readyz"] { return nil }
        let host = (request.headers["host"] ?? "").lowercased()
        if let origin = request.headers["origin"]?.lowercased() {
            let authority = origin.split(separator: "/", omittingEmptySubsequences: true).dropFirst().first
            guard let authority, String(authority) == host else {
                return "cross-origin request refused: Origin \(origin) is not this server (\(host))"
            }
        }
        if request.headers["sec-fetch-site"]?.lowercased() == "cross-site" {
            return "cross-site request refused (Sec-Fetch-Site: cross-site)"
        }
        if !context.configuration.requiresAuthentication, loop.listensOnLoopback, !Self.isLoopbackHost(host) {
            return "Host \(host) refused: this port listens on loopback without tokens, so it answers loopback "
                + "names only (127.0.0.1, [::1], localhost)"
        }
        return nil
    }

    /// True for `localhost`, `127.x.x.x` and `[::1]`, with or without a port.
    static func isLoopbackHost(_ host: String) -> Bool {
        var name = Substring(host)
        if name.hasPrefix("[") {
            guard let close = name.firstIndex(of: "]") else { return false }
            return name[name.index(after: name.startIndex)..<close] == "::1"
        }
        if let colon = name.lastIndex(of: ":") { name = name[..<colon] }
        if name == "localhost" { return true }
        let octets = name.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    /// The role of the request's bearer token (admin for everyone without token files).
    private func authenticate(_ request: HTTPRequest) -> Result<Role, ProtocolError> {
        guard context.configuration.requiresAuthentication else { return .success(.admin) }
        guard let header = request.headers["authorization"] else {
            return .failure(ProtocolError(.unauthorized, "send Authorization: Bearer <token>"))
        }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            return .failure(ProtocolError(.unauthorized, "send Authorization: Bearer <token> (a bearer token)"))
        }
        let token = String(parts[1]).trimmingSpaces
        guard let role = context.handler.authenticator.role(for: token) else {
            return .failure(ProtocolError(.unauthorized, "the token is not valid"))
        }
        return .success(role)
    }

    /// The `X-Breaker-Client` header when it is a short printable name, else the peer's address.
    static func clientName(_ request: HTTPRequest, peer: String) -> String {
        if let name = request.headers["x-breaker-client"], !name.isEmpty, name.utf8.count <= 64,
            name.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        {
            return name
        }
        return peer
    }

    /// Writes `text` as a number when it is one, else as a string (the protocol's decoder then says what is
    /// wrong with it, as for a TCP request).
    private static func number(_ text: String, _ name: StaticString, into w: inout JSONWriter) {
        if let n = Int64(text) { w.member(name, n) } else { w.member(name, text) }
    }

    /// The fields of a force body: a JSON object without `op`, `resource` or `id` (the URL gives those).
    static func forceBody(_ body: [UInt8]) -> Result<[String: JSONValue], ProtocolError> {
        guard !body.isEmpty else {
            return .failure(ProtocolError(.badRequest, #"send a JSON body such as {"state":"open","reason":"…"}"#))
        }
        let value: JSONValue
        do {
            value = try JSONParser.parse(body)
        } catch {
            if let name = error.duplicateMember {
                return .failure(ProtocolError(.badRequest, "duplicate field '\(name)'"))
            }
            return .failure(ProtocolError(.badJSON, "the body is not JSON: \(error)"))
        }
        guard case .object(let members) = value else {
            return .failure(ProtocolError(.badRequest, "the body must be a JSON object, not \(value.typeName)"))
        }
        for name in ["op", "resource", "id"] where members[name] != nil {
            return .failure(ProtocolError(.badRequest, "field '\(name)' comes from the URL; leave it out of the body"))
        }
        return .success(members)
    }

    // MARK: Responses

    /// A protocol reply as an HTTP response: 200 for `ok`, else the status its error code stands for.
    static func apiResponse(_ reply: [UInt8]) -> HTTPResponse {
        var status = HTTPStatus.ok
        // Replies without an id begin with their "ok" member: only an error reply is parsed (a list reply may
        // be megabytes).
        if !reply.starts(with: #"{"ok":true"#.utf8), case .object(let members)? = try? JSONParser.parse(reply),
            members["ok"] == .bool(false),
            case .string(let code)? = members["error"]?["code"]
        {
            status = Self.status(for: ErrorCode(rawValue: code))
        }
        return .json(status, reply)
    }

    /// The HTTP status of a protocol error code.
    static func status(for code: ErrorCode) -> HTTPStatus {
        switch code {
        case .notFound: .notFound
        case .unauthorized: .unauthorized
        case .forbidden: .forbidden
        case .tooManyBreakers: .conflict
        case .lineTooLong: .payloadTooLarge
        case .shuttingDown, .tooManyConnections: .serviceUnavailable
        case .internalError: .internalServerError
        default: .badRequest
        }
    }

    /// An error response: the protocol's error object under `/api/`, a text line elsewhere.
    static func failure(_ status: HTTPStatus, _ error: ProtocolError, json: Bool) -> HTTPResponse {
        guard json else { return .text(status, error.message) }
        var w = JSONWriter()
        Reply.error(id: nil, error, into: &w)
        return .json(status, w.bytes)
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s = s.dropFirst() }
        while s.last == " " || s.last == "\t" { s = s.dropLast() }
        return String(s)
    }
}
