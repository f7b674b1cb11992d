/// The reply to `cluster` (breakerd 0.4.0): a single server says so; a cluster replica gives its view of the
/// cluster, which every replica answers whether or not it leads.
///
/// ```json
/// {"id":1,"ok":true,"mode":"single"}
/// {"id":1,"ok":true,"mode":"cluster","name":"prod","replica":"10.0.0.2:7433","role":"follower",
///  "leader":"10.0.0.1:7433","lease_ms":2000,"replicas":[{"address":"10.0.0.1:7433","role":"leader"},…],
///  "etcd":[{"endpoint":"10.0.0.5:2379","healthy":true,"version":"3.4.23","leader":true},…]}
/// ```
public struct ClusterReply: Sendable, Hashable {
    /// One etcd member as this replica last saw it (`maintenance/status`, every few seconds).
    public struct EtcdMember: Sendable, Hashable {
        public var endpoint: String
        public var healthy: Bool
        /// etcd's version, when it answered.
        public var version: String?
        /// True for the member that leads etcd's own raft group.
        public var isLeader: Bool

        public init(endpoint: String, healthy: Bool, version: String? = nil, isLeader: Bool = false) {
            self.endpoint = endpoint
            self.healthy = healthy
            self.version = version
            self.isLeader = isLeader
        }
    }

    /// One replica registered in etcd (each keeps its own key alive while it runs).
    public struct Replica: Sendable, Hashable {
        /// Its `--advertise` address.
        public var address: String
        /// `leader` or `follower`.
        public var role: String

        public init(address: String, role: String) {
            self.address = address
            self.role = role
        }
    }

    /// `single` (no `--cluster`) or `cluster`; the other members are present in cluster mode only.
    public var mode: String
    /// `--cluster-name`.
    public var name: String?
    /// This replica's `--advertise` address.
    public var replica: String?
    /// `leader`, `leader (loading)` or `follower`.
    public var role: String?
    /// The leader's address, when known.
    public var leader: String?
    /// `--leader-lease`, in ms.
    public var leaseMs: Int64?
    /// When this replica (as leader) last renewed its lease, in ms since the Unix epoch.
    public var renewedAtMs: Int64?
    /// Why etcd could not be reached, the last time it could not (nil: it answered).
    public var etcdProblem: String?
    public var replicas: [Replica]
    public var etcd: [EtcdMember]

    /// A single server's reply.
    public static let single = ClusterReply(mode: "single")

    public init(
        mode: String,
        name: String? = nil,
        replica: String? = nil,
        role: String? = nil,
        leader: String? = nil,
        leaseMs: Int64? = nil,
        renewedAtMs: Int64? = nil,
        etcdProblem: String? = nil,
        replicas: [Replica] = [],
        etcd: [EtcdMember] = []
    ) {
        self.mode = mode
        self.name = name
        self.replica = replica
        self.role = role
        self.leader = leader
        self.leaseMs = leaseMs
        self.renewedAtMs = renewedAtMs
        self.etcdProblem = etcdProblem
        self.replicas = replicas
        self.etcd = etcd
    }

    public func write(id: RequestID?, into w: inout JSONWriter) {
        Reply.beginSuccess(id: id, into: &w)
        w.member("mode", mode)
        if mode != "single" {
            if let name { w.member("name", name) }
            if let replica { w.member("replica", replica) }
            if let role { w.member("role", role) }
            if let leader { w.member("leader", leader) }
            if let leaseMs { w.member("lease_ms", leaseMs) }
            if let renewedAtMs { w.member("renewed_at_ms", renewedAtMs) }
            if let etcdProblem { w.member("etcd_problem", etcdProblem) }
            w.key("replicas")
            w.beginArray()
            for r in replicas {
                w.beginObject()
                w.member("address", r.address)
                w.member("role", r.role)
                w.endObject()
            }
            w.endArray()
            w.key("etcd")
            w.beginArray()
            for m in etcd {
                w.beginObject()
                w.member("endpoint", m.endpoint)
                w.member("healthy", m.healthy)
                if let version = m.version { w.member("version", version) }
                w.member("leader", m.isLeader)
                w.endObject()
            }
            w.endArray()
        }
        Reply.end(&w)
    }

    public init(json: JSONValue) throws(ReplyDecodingError) {
        mode = try json.string("mode")
        name = json.optionalString("name")
        replica = json.optionalString("replica")
        role = json.optionalString("role")
        leader = json.optionalString("leader")
        leaseMs = json.optionalInt("lease_ms")
        renewedAtMs = json.optionalInt("renewed_at_ms")
        etcdProblem = json.optionalString("etcd_problem")
        replicas = []
        etcd = []
        if case .array(let items)? = json["replicas"] {
            for item in items {
                replicas.append(Replica(address: try item.string("address"), role: try item.string("role")))
            }
        }
        if case .array(let items)? = json["etcd"] {
            for item in items {
                etcd.append(
                    EtcdMember(
                        endpoint: try item.string("endpoint"),
                        healthy: try item.bool("healthy"),
                        version: item.optionalString("version"),
                        isLeader: item["leader"] == .bool(true)
                    )
                )
            }
        }
    }
}
