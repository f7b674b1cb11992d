import BreakerCore
import BreakerProtocol
public import BreakerTLS
import Foundation
import Synchronization

/// A client of etcd's v3 JSON gateway (HTTP/1.1, `POST /v3/...`, keys and values base64): the calls breakerd's
/// cluster mode needs, and no gRPC stack. One request at a time on a kept-alive connection to one member; when
/// that member cannot be reached, the next one in the list is tried, within the request's deadline.
public final class EtcdClient: Sendable {
    /// One key's value as etcd stores it.
    public struct KeyValue: Sendable, Hashable {
        public let key: String
        public let value: [UInt8]
        /// The revision that created the key (its lease's generation for an election key).
        public let createRevision: Int64
        public let modRevision: Int64
        public let lease: Int64
    }

    /// A condition of a transaction (`compare`).
    public enum Compare: Sendable {
        /// The key's create revision equals `revision` (0: the key does not exist).
        case createRevision(key: String, equals: Int64)
        /// The key's value equals `value`.
        case value(key: String, equals: [UInt8])
    }

    /// An operation of a transaction's branch.
    public enum Operation: Sendable {
        case put(key: String, value: [UInt8], lease: Int64?)
        case delete(key: String, prefix: Bool)
        case range(key: String)
    }

    /// What a transaction did: whether its compares held, and the keys its `range` operations read.
    public struct TxnResult: Sendable {
        public let succeeded: Bool
        public let revision: Int64
        public let ranges: [[KeyValue]]
    }

    /// A member's `maintenance/status`.
    public struct Status: Sendable {
        public let endpoint: String
        public let version: String
        public let leader: String
        public let member: String
        public let raftTerm: Int64
    }

    public let endpoints: [(host: String, port: Int)]
    /// How long one call may take, every member tried included.
    public let timeout: Duration
    /// TLS to the members (etcd's `--cert-file`), nil for plain HTTP.
    public let tls: TLSContext?
    private let connections: Mutex<State>

    private struct State: ~Copyable {
        var current = 0
        var connections: [GatewayConnection]
    }

    /// - Parameters:
    ///   - endpoints: the members' client addresses (`HOST:PORT`), tried in order from the last that answered.
    ///   - timeout: how long one call may take in all.
    ///   - tls: a client context (the CA that signed the members' certificates, and a client certificate when
    ///     etcd has `--client-cert-auth`); nil for plain HTTP.
    public init(endpoints: [(host: String, port: Int)], timeout: Duration = .seconds(2), tls: TLSContext? = nil) {
        precondition(!endpoints.isEmpty, "an etcd client needs at least one endpoint")
        self.endpoints = endpoints
        self.timeout = timeout
        self.tls = tls
        connections = Mutex(
            State(connections: endpoints.map { GatewayConnection(host: $0.host, port: $0.port, tls: tls) })
        )
    }

    // MARK: Calls

    /// `lease/grant`: a lease of `ttlSeconds`; its id.
    public func grantLease(ttlSeconds: Int64) throws(EtcdError) -> Int64 {
        let reply = try call("/v3/lease/grant", .object(["TTL": .string(String(ttlSeconds))]))
        guard let id = Self.int(reply["ID"]), id != 0 else { throw .malformed("lease/grant answered no ID") }
        return id
    }

    /// `lease/keepalive` once: the lease's remaining TTL in seconds (0 or less: the lease is gone).
    public func keepAlive(lease: Int64) throws(EtcdError) -> Int64 {
        let reply = try call("/v3/lease/keepalive", .object(["ID": .string(String(lease))]))
        // The gateway streams: one object {"result":{...}} per keep-alive.
        let result = reply["result"] ?? reply
        return Self.int(result["TTL"]) ?? 0
    }

    /// `lease/revoke`: ends the lease and deletes its keys (a leader stepping down).
    public func revoke(lease: Int64) throws(EtcdError) {
        _ = try call("/v3/lease/revoke", .object(["ID": .string(String(lease))]))
    }

    /// `kv/range` of one key, or of every key under `prefix` when `prefix` is true; the keys and the store's
    /// revision.
    public func range(_ key: String, prefix: Bool = false) throws(EtcdError) -> (kvs: [KeyValue], revision: Int64) {
        var body: [String: JSONValue] = ["key": .string(Self.base64(key))]
        if prefix { body["range_end"] = .string(Self.base64(Self.prefixEnd(key))) }
        let reply = try call("/v3/kv/range", .object(body))
        return (try Self.keyValues(reply["kvs"]), Self.int(reply["header"]?["revision"]) ?? 0)
    }

    /// `kv/put`.
    public func put(_ key: String, _ value: [UInt8], lease: Int64? = nil) throws(EtcdError) {
        _ = try call("/v3/kv/put", Self.put(key, value, lease: lease))
    }

    /// `kv/txn`: `success` when every compare holds, else `failure`.
    public func txn(
        _ compares: [Compare],
        success: [Operation],
        failure: [Operation] = []
    ) throws(EtcdError) -> TxnResult {
        let body = JSONValue.object([
            "compare": .array(compares.map(Self.encode)),
            "success": .array(success.map(Self.encode)),
            "failure": .array(failure.map(Self.encode)),
        ])
        let reply = try call("/v3/kv/txn", body)
        var ranges: [[KeyValue]] = []
        if case .array(let responses)? = reply["responses"] {
            for r in responses {
                if let range = r["response_range"] { ranges.append(try Self.keyValues(range["kvs"])) }
            }
        }
        return TxnResult(
            succeeded: reply["succeeded"] == .bool(true),
            revision: Self.int(reply["header"]?["revision"]) ?? 0,
            ranges: ranges
        )
    }

    /// `maintenance/status` of each member (nil for one that does not answer).
    public func statuses() -> [Status?] {
        endpoints.map { endpoint in
            let single = EtcdClient(endpoints: [endpoint], timeout: .milliseconds(500), tls: tls)
            guard let reply = try? single.call("/v3/maintenance/status", .object([:])) else { return nil }
            return Status(
                endpoint: "\(endpoint.host):\(endpoint.port)",
                version: reply["version"]?.etcdString ?? "?",
                leader: reply["leader"]?.etcdString ?? "?",
                member: reply["header"]?["member_id"]?.etcdString ?? "?",
                raftTerm: Self.int(reply["raftTerm"]) ?? 0
            )
        }
    }

    // MARK: Plumbing

    /// POSTs `body` to `path` on the current member, moving on to the next one when it cannot be reached.
    func call(_ path: String, _ body: JSONValue) throws(EtcdError) -> JSONValue {
        var writer = JSONWriter()
        writer.value(body)
        let bytes = writer.bytes
        let deadline = GatewayConnection.nowMs() + timeout.millisecondsRoundedUp
        return try connections.withLock { state throws(EtcdError) -> JSONValue in
            var lastProblem = "no member tried"
            for step in 0..<state.connections.count {
                let index = (state.current + step) % state.connections.count
                let connection = state.connections[index]
                do throws(EtcdError) {
                    let (status, reply) = try connection.post(path, body: bytes, deadlineMs: deadline)
                    state.current = index
                    guard let value = try? JSONParser.parse(reply) else {
                        throw EtcdError.malformed("\(connection.host):\(connection.port) \(path): not JSON")
                    }
                    guard status == 200, value["error"] == nil || value["result"] != nil else {
                        let message =
                            value["message"]?.etcdString ?? value["error"]?["message"]?.etcdString
                            ?? value["error"]?.etcdString ?? "HTTP \(status)"
                        throw EtcdError.rejected("\(path): \(message)")
                    }
                    return value
                } catch {
                    if !error.isUnavailable { throw error }
                    lastProblem = error.message
                    if GatewayConnection.nowMs() >= deadline { break }
                }
            }
            throw EtcdError.unavailable("no etcd member answered \(path) (last: \(lastProblem))")
        }
    }

    static func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }

    static func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }

    /// The end of the range of every key starting with `prefix` (its last byte plus one).
    static func prefixEnd(_ prefix: String) -> [UInt8] {
        var bytes = Array(prefix.utf8)
        while let last = bytes.last {
            if last < 0xFF {
                bytes[bytes.count - 1] = last + 1
                return bytes
            }
            bytes.removeLast()
        }
        return [0]
    }

    /// The gateway writes 64-bit integers as strings.
    static func int(_ value: JSONValue?) -> Int64? {
        switch value {
        case .string(let s)?: Int64(s)
        case .integer(let i)?: i
        default: nil
        }
    }

    static func keyValues(_ value: JSONValue?) throws(EtcdError) -> [KeyValue] {
        guard case .array(let items)? = value else { return [] }
        var out: [KeyValue] = []
        out.reserveCapacity(items.count)
        for item in items {
            guard let key = item["key"]?.etcdString.flatMap({ Data(base64Encoded: $0) }) else {
                throw .malformed("a key that is not base64")
            }
            let value = item["value"]?.etcdString.flatMap { Data(base64Encoded: $0) } ?? Data()
            out.append(
                KeyValue(
                    key: String(decoding: key, as: UTF8.self),
                    value: Array(value),
                    createRevision: int(item["create_revision"]) ?? 0,
                    modRevision: int(item["mod_revision"]) ?? 0,
                    lease: int(item["lease"]) ?? 0
                )
            )
        }
        return out
    }

    static func put(_ key: String, _ value: [UInt8], lease: Int64?) -> JSONValue {
        var body: [String: JSONValue] = ["key": .string(base64(key)), "value": .string(base64(value))]
        if let lease { body["lease"] = .string(String(lease)) }
        return .object(body)
    }

    static func encode(_ compare: Compare) -> JSONValue {
        switch compare {
        case .createRevision(let key, let revision):
            .object([
                "key": .string(base64(key)), "target": .string("CREATE"), "result": .string("EQUAL"),
                "create_revision": .string(String(revision)),
            ])
        case .value(let key, let value):
            .object([
                "key": .string(base64(key)), "target": .string("VALUE"), "result": .string("EQUAL"),
                "value": .string(base64(value)),
            ])
        }
    }

    static func encode(_ operation: Operation) -> JSONValue {
        switch operation {
        case .put(let key, let value, let lease): .object(["request_put": put(key, value, lease: lease)])
        case .delete(let key, let prefix):
            .object([
                "request_delete_range": .object(
                    prefix
                        ? ["key": .string(base64(key)), "range_end": .string(base64(prefixEnd(key)))]
                        : ["key": .string(base64(key))]
                )
            ])
        case .range(let key): .object(["request_range": .object(["key": .string(base64(key))])])
        }
    }
}

extension JSONValue {
    /// The string, for a string value.
    fileprivate var etcdString: String? {
        if case .string(let s) = self { return s }
        return nil
    }
}
