import BreakerCore

extension Request {
    /// The longest `reason` of a force, in bytes.
    public static let maximumReasonLength = 1_024
    /// The longest `client` name in `hello`, in bytes.
    public static let maximumClientNameLength = 128
    /// The most breakers one `list` page holds.
    public static let maximumListLimit = 10_000
    /// The breakers one `list` page holds when the request does not say.
    public static let defaultListLimit = 1_000
    /// The most transitions `history` returns.
    public static let maximumHistoryLimit = TransitionRecord.retentionLimit
    /// The most entries one `lease` request holds (more: `bad_request` for the whole request).
    public static let maximumLeaseEntries = 1_000
    /// The longest force TTL: 30 days.
    public static let maximumForceTTL = Duration.seconds(30 * 24 * 3600)

    /// Decodes one request line (without its line ending): the hot operations through the hand-written
    /// `decodeFast(line:)`, everything else (and every error) through `decodeGeneral(line:)`.
    public static func decode(line: UnsafeRawBufferPointer) throws(RequestDecodingError) -> Request {
        if let fast = decodeFast(line: line) { return fast }
        return try decodeGeneral(line: line)
    }

    /// Decodes one request line through the JSON parser (every operation, every error).
    public static func decodeGeneral(line: UnsafeRawBufferPointer) throws(RequestDecodingError) -> Request {
        let value: JSONValue
        do {
            value = try JSONParser.parse(line)
        } catch {
            if let name = error.duplicateMember {
                throw RequestDecodingError(
                    id: nil,
                    operation: nil,
                    noreply: false,
                    error: ProtocolError(.badRequest, "duplicate field '\(name)'; give each field once")
                )
            }
            throw RequestDecodingError(
                id: nil,
                operation: nil,
                noreply: false,
                error: ProtocolError(.badJSON, "the line is not JSON: \(error)")
            )
        }
        return try decode(value)
    }

    /// Decodes one request line given as bytes.
    public static func decode(line: some Collection<UInt8>) throws(RequestDecodingError) -> Request {
        let bytes = Array(line)
        let result = bytes.withUnsafeBytes { buffer in
            Result { () throws(RequestDecodingError) -> Request in try decode(line: buffer) }
        }
        return try result.get()
    }

    /// Decodes a parsed request object.
    public static func decode(_ value: JSONValue) throws(RequestDecodingError) -> Request {
        guard case .object = value else {
            throw RequestDecodingError(
                id: nil,
                operation: nil,
                noreply: false,
                error: ProtocolError(.badRequest, "a request must be a JSON object, got \(value.typeName)")
            )
        }
        let fields = Fields(value: value)
        let id: RequestID?
        do {
            id = try fields.id()
        } catch {
            throw RequestDecodingError(id: nil, operation: nil, noreply: false, error: error)
        }
        // `noreply` belongs to `report` alone: any other op (or a missing or unknown one) answers as usual.
        let noreply = value["noreply"] == .bool(true) && value["op"] == .string(OperationName.report.rawValue)
        let opName: OperationName
        switch value["op"] {
        case .string(let s)?:
            guard let name = OperationName(rawValue: s) else {
                let known = OperationName.allCases.map(\.rawValue).joined(separator: ", ")
                throw RequestDecodingError(
                    id: id,
                    operation: nil,
                    noreply: noreply,
                    error: ProtocolError(.unknownOp, "unknown op \"\(s)\"; protocol 1 has: \(known)")
                )
            }
            opName = name
        case nil:
            throw RequestDecodingError(
                id: id,
                operation: nil,
                noreply: noreply,
                error: ProtocolError(.badRequest, "field 'op' is required (for example \"op\":\"acquire\")")
            )
        case let other?:
            throw RequestDecodingError(
                id: id,
                operation: nil,
                noreply: noreply,
                error: ProtocolError(.badRequest, "field 'op' must be a string, got \(other.typeName)")
            )
        }
        do {
            return Request(id: id, try fields.operation(opName))
        } catch {
            throw RequestDecodingError(id: id, operation: opName, noreply: noreply && opName == .report, error: error)
        }
    }
}

/// Typed access to a request object's fields, with errors that name the field.
struct Fields {
    let value: JSONValue

    func id() throws(ProtocolError) -> RequestID? {
        switch value["id"] {
        case nil, .null?: return nil
        case .integer(let i)?: return .integer(i)
        case .string(let s)?:
            guard s.utf8.count <= RequestID.maximumStringLength else {
                throw ProtocolError(
                    .badRequest,
                    "field 'id' is a string of \(s.utf8.count) bytes; at most \(RequestID.maximumStringLength) are allowed"
                )
            }
            return .string(s)
        case let other?:
            throw ProtocolError(.badRequest, "field 'id' must be an integer or a string, got \(other.typeName)")
        }
    }

    func string(_ name: String, maxBytes: Int? = nil) throws(ProtocolError) -> String? {
        switch value[name] {
        case nil, .null?: return nil
        case .string(let s)?:
            if let maxBytes, s.utf8.count > maxBytes {
                throw ProtocolError(
                    .badRequest,
                    "field '\(name)' is \(s.utf8.count) bytes; at most \(maxBytes) are allowed"
                )
            }
            return s
        case let other?: throw ProtocolError(.badRequest, "field '\(name)' must be a string, got \(other.typeName)")
        }
    }

    func integer(_ name: String, range: ClosedRange<Int64>) throws(ProtocolError) -> Int64? {
        switch value[name] {
        case nil, .null?: return nil
        case .integer(let i)?:
            guard range.contains(i) else {
                throw ProtocolError(
                    .badRequest,
                    "field '\(name)' must be from \(range.lowerBound) to \(range.upperBound), got \(i)"
                )
            }
            return i
        case .number(let d)?:
            throw ProtocolError(.badRequest, JSONValue.wholeNumberProblem(d, field: name, range: range))
        case let other?:
            throw ProtocolError(.badRequest, "field '\(name)' must be a whole number, got \(other.typeName)")
        }
    }

    /// The `slow` count of a batch of `outcomes` outcomes (0 to `outcomes`), or nil when left out.
    func slow(of outcomes: Int64) throws(ProtocolError) -> Int64? {
        guard let slow = try integer("slow", range: 0...Int64(Int32.max)) else { return nil }
        guard slow <= outcomes else {
            throw ProtocolError(
                .badRequest,
                "field 'slow' is \(slow), more than the \(outcomes) outcomes reported (successes + failures): it "
                    + "counts how many of them were slow"
            )
        }
        return slow
    }

    func bool(_ name: String) throws(ProtocolError) -> Bool? {
        switch value[name] {
        case nil, .null?: return nil
        case .bool(let b)?: return b
        case let other?:
            throw ProtocolError(.badRequest, "field '\(name)' must be true or false, got \(other.typeName)")
        }
    }

    /// The `resource` field: required, validated.
    func resource() throws(ProtocolError) -> String {
        switch value["resource"] {
        case .string(let s)?:
            if let problem = ResourceName.problem(with: s) { throw ProtocolError(.invalidResource, problem) }
            return s
        case nil, .null?:
            throw ProtocolError(.badRequest, "field 'resource' is required (the name of the protected resource)")
        case let other?:
            throw ProtocolError(.badRequest, "field 'resource' must be a string, got \(other.typeName)")
        }
    }

    func prefix() throws(ProtocolError) -> String {
        guard let p = try string("prefix") else { return "" }
        guard ResourceName.isValidPrefix(p) else {
            throw ProtocolError(
                .badRequest,
                "field 'prefix' must be at most \(ResourceName.maximumLength) bytes of A-Z a-z 0-9 . _ : / @ -"
            )
        }
        return p
    }

    func policy(required: Bool) throws(ProtocolError) -> BreakerPolicy? {
        switch value["policy"] {
        case nil, .null?:
            if required {
                throw ProtocolError(
                    .badRequest,
                    "field 'policy' is required (an object with at least failure_threshold)"
                )
            }
            return nil
        case let p?: return try WirePolicy.decode(p)
        }
    }

    /// The `resources` array of `lease`: required, at most `Request.maximumLeaseEntries`; each entry is read on
    /// its own (a wrong entry becomes `.invalid` without failing the request).
    func leaseEntries() throws(ProtocolError) -> [LeaseEntry] {
        switch value["resources"] {
        case .array(let items)?:
            guard items.count <= Request.maximumLeaseEntries else {
                throw ProtocolError(
                    .badRequest,
                    "field 'resources' has \(items.count) entries; at most \(Request.maximumLeaseEntries) are "
                        + "allowed: send the rest in another lease request"
                )
            }
            return items.map(LeaseEntry.decode)
        case nil, .null?:
            throw ProtocolError(
                .badRequest,
                "field 'resources' is required: an array of entries such as {\"resource\":\"db\",\"failures\":1}"
            )
        case let other?:
            throw ProtocolError(.badRequest, "field 'resources' must be an array of entries, got \(other.typeName)")
        }
    }

    func oneOf<T>(_ name: String, _ choices: KeyValuePairs<String, T>) throws(ProtocolError) -> T {
        let names = choices.map { "\"\($0.key)\"" }.joined(separator: ", ")
        switch value[name] {
        case .string(let s)?:
            if let match = choices.first(where: { $0.key == s }) { return match.value }
            throw ProtocolError(.badRequest, "field '\(name)' must be one of \(names), got \"\(s)\"")
        case nil, .null?: throw ProtocolError(.badRequest, "field '\(name)' is required: one of \(names)")
        case let other?:
            throw ProtocolError(.badRequest, "field '\(name)' must be one of \(names), got \(other.typeName)")
        }
    }

    func operation(_ name: OperationName) throws(ProtocolError) -> Request.Operation {
        switch name {
        case .ping: return .ping
        case .hello:
            let token = try string("token", maxBytes: 4_096)
            let client = try string("client", maxBytes: Request.maximumClientNameLength)
            let version = try integer("protocol", range: 0...Int64(Int32.max)).map { Int($0) }
            return .hello(token: token, client: client, protocolVersion: version)
        case .acquire:
            // Validation of every field comes before the lookup of the resource (done by the server).
            let resource = try resource()
            return .acquire(resource: resource, policy: try policy(required: false))
        case .report:
            let resource = try resource()
            let outcomeGiven = value["outcome"] != nil
            let successes = try integer("successes", range: 0...Int64(Int32.max))
            let failures = try integer("failures", range: 0...Int64(Int32.max))
            let permitText = try string("permit", maxBytes: 64)
            let kind: Request.ReportKind
            if outcomeGiven {
                guard successes == nil, failures == nil else {
                    throw ProtocolError(
                        .badRequest,
                        "give either 'outcome' or the counts 'successes'/'failures', not both"
                    )
                }
                guard (value["slow"] ?? .null) == .null else {
                    throw ProtocolError(
                        .badRequest,
                        "field 'slow' goes with the counts 'successes'/'failures'; a single 'outcome' is slow by "
                            + "its 'duration_ms'"
                    )
                }
                let outcome = try oneOf(
                    "outcome",
                    ["success": Outcome.success, "failure": .failure, "ignored": .ignored]
                )
                var permit: Permit? = nil
                if let permitText {
                    guard let p = Permit(parsing: permitText) else {
                        throw ProtocolError(
                            .badRequest,
                            "field 'permit' must be the permit string from acquire (\"<generation>.<sequence>\"), got \"\(permitText)\""
                        )
                    }
                    permit = p
                }
                kind = .outcome(outcome, permit: permit)
            } else if successes != nil || failures != nil {
                guard permitText == nil else {
                    throw ProtocolError(.badRequest, "field 'permit' goes with a single 'outcome', not with counts")
                }
                let slow = try slow(of: (successes ?? 0) + (failures ?? 0)) ?? 0
                kind = .batch(successes: Int(successes ?? 0), failures: Int(failures ?? 0), slow: Int(slow))
            } else {
                throw ProtocolError(
                    .badRequest,
                    "field 'outcome' is required: one of \"success\", \"failure\", \"ignored\" (or give counts 'successes'/'failures')"
                )
            }
            let duration = try integer("duration_ms", range: 0...Int64.max)
            let noreply = try bool("noreply") ?? false
            return .report(
                resource: resource,
                kind: kind,
                policy: try policy(required: false),
                durationMs: duration,
                noreply: noreply
            )
        case .lease: return .lease(entries: try leaseEntries())
        case .status: return .status(resource: try resource())
        case .list:
            let prefix = try prefix()
            let limit =
                try integer("limit", range: 1...Int64(Request.maximumListLimit)) ?? Int64(Request.defaultListLimit)
            var after: String?
            if let a = try string("after") {
                if let problem = ResourceName.problem(with: a) {
                    throw ProtocolError(
                        .badRequest,
                        "field 'after' must be a resource name (the 'next' of a page): \(problem)"
                    )
                }
                after = a
            }
            return .list(prefix: prefix, after: after, limit: Int(limit))
        case .configure:
            let resource = try resource()
            return .configure(resource: resource, policy: try policy(required: true)!)
        case .force:
            let resource = try resource()
            let target = try oneOf("state", ["open": BreakerForce.Target.open, "closed": .closed])
            let reason = try string("reason", maxBytes: Request.maximumReasonLength)
            let ttl = try integer("ttl_ms", range: 1...Request.maximumForceTTL.millisecondsRoundedUp).map {
                Duration.milliseconds($0)
            }
            return .force(resource: resource, target: target, reason: reason, ttl: ttl)
        case .release: return .release(resource: try resource())
        case .reset: return .reset(resource: try resource())
        case .delete: return .delete(resource: try resource())
        case .watch: return .watch(prefix: try prefix())
        case .unwatch: return .unwatch
        case .history:
            let resource = try resource()
            let limit = try integer("limit", range: 1...Int64(Request.maximumHistoryLimit)) ?? 50
            return .history(resource: resource, limit: Int(limit))
        case .stats: return .stats
        case .cluster: return .cluster
        }
    }
}
