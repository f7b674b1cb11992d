import BreakerProtocol

#if canImport(Glibc)
import Glibc
#endif

/// The replicas of a cluster (`breakerd --cluster`, issue #19): a `not_leader` reply that names the leader sends
/// the client there. The connection is closed at once (its waiting requests fail with `disconnected`, which the
/// shared breaker's fallback covers) and the I/O thread connects to the leader without a backoff.
extension ClientCore {
    /// Looks at an error reply; for `not_leader` with a leader other than the current server, redirects.
    func followLeader(named reply: JSONValue) {
        guard case .string("not_leader")? = reply["error"]?["code"],
            case .string(let text)? = reply["error"]?["leader"],
            let leader = BreakerClient.Configuration.Server(parsing: text)
        else { return }
        let moved = state.withLock { s -> Bool in
            guard s.fd >= 0, s.connectedTo != leader, s.redirect == nil else { return false }
            s.redirect = leader
            s.ready = false
            _ = Glibc.shutdown(s.fd, Int32(SHUT_RDWR))
            return true
        }
        if moved {
            logger.notice("breakerd is not the leader; going to the leader", metadata: ["leader": "\(leader)"])
        }
    }
}
