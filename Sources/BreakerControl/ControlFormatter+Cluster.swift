public import BreakerProtocol

extension ControlFormatter {
    /// `breakerctl cluster`: the replicas, the leader and its lease, and etcd's members, as the replica that
    /// answered sees them.
    public func cluster(_ c: ClusterReply, server: String) -> String {
        guard c.mode == "cluster" else {
            return "breakerd at \(server) is a single server (no --cluster): its breakers are in its SQLite file"
        }
        var lines = [
            "cluster:     \(c.name ?? "?") (leader lease \(c.leaseMs.map { duration(ms: $0) } ?? "?"))",
            "leader:      \(c.leader ?? "none known (an election is under way, or etcd cannot be reached)")"
                + (c.renewedAtMs.map { ", lease renewed \(ago($0))" } ?? ""),
            "answered by: \(c.replica ?? server) (\(c.role ?? "?"))",
        ]
        if let problem = c.etcdProblem { lines.append("etcd:        cannot be reached from there: \(problem)") }
        let width = max(c.replicas.map(\.address.count).max() ?? 0, c.etcd.map(\.endpoint.count).max() ?? 0)
        func pad(_ s: String) -> String { s + String(repeating: " ", count: max(0, width - s.count)) }
        for (i, r) in c.replicas.enumerated() {
            lines.append((i == 0 ? "replicas:    " : "             ") + "\(pad(r.address))  \(r.role)")
        }
        if c.replicas.isEmpty { lines.append("replicas:    none registered yet") }
        for (i, m) in c.etcd.enumerated() {
            let state = m.healthy ? "healthy \(m.version ?? "")" + (m.isLeader ? "  raft leader" : "") : "unreachable"
            lines.append((i == 0 ? "etcd:        " : "             ") + "\(pad(m.endpoint))  \(state)")
        }
        return lines.joined(separator: "\n")
    }
}

extension ControlJSON {
    /// `breakerctl cluster --json`: the reply without `ok`.
    public static func cluster(_ c: ClusterReply) -> String {
        var w = JSONWriter()
        c.write(id: nil, into: &w)
        var text = String(decoding: w.bytes, as: UTF8.self)
        if text.hasSuffix("\n") { text.removeLast() }
        let prefix = #"{"ok":true,"#
        return text.hasPrefix(prefix) ? "{" + text.dropFirst(prefix.count) : text
    }
}
