import BreakerCore

/// One replica's part in the election, as a state machine without I/O (issue #19): the cluster thread tells it
/// what etcd answered and when, and it says what to do next and whether this replica may serve.
///
/// The safety rule: a leader serves only until `lease − margin` after it *sent* the last keep-alive etcd
/// accepted, measured on its own monotonic clock. etcd restarts the lease's TTL when it handles that request,
/// which is later, so the replica stops serving before its lease can expire and another replica can win: two
/// replicas never decide at once (clock rates differ by far less than the margin).
struct LeaderElection: Sendable {
    /// What the replica is.
    enum Role: Sendable, Equatable {
        /// Not the leader; `leader` is the leader's `--advertise` address when known.
        case follower(leader: String?)
        /// Won the election; serves once `loaded` (the state read from etcd) and while the lease is safe.
        case leader(loaded: Bool)
    }

    /// What the cluster thread does next.
    enum Action: Sendable, Equatable {
        /// Grant a lease and try to create the leader key with it.
        case campaign
        /// Keep the lease alive.
        case renew(lease: Int64)
        /// Read the leader key (a follower watching for a vacancy).
        case poll
        /// Load every breaker from etcd (a new leader, before it serves).
        case load
        /// Nothing until then.
        case wait(until: MonotonicInstant)
    }

    /// The lease's length (`--leader-lease`).
    let lease: Duration
    /// How long before the lease's end a leader stops serving.
    let margin: Duration
    /// How often a leader renews and a follower polls.
    let interval: Duration

    private(set) var role: Role = .follower(leader: nil)
    /// The lease this replica holds the leader key with.
    private(set) var leaseID: Int64?
    /// The leader key's create revision while this replica leads: every durable write is conditioned on it.
    private(set) var revision: Int64?
    /// A leader serves until then.
    private(set) var servingUntil: MonotonicInstant?
    private var nextAt: MonotonicInstant
    /// True while no leader is known to hold the key: a follower campaigns rather than polls.
    private var vacant = true
    /// Consecutive failures to reach etcd, for the backoff of a replica that cannot.
    private(set) var failures = 0

    init(lease: Duration, now: MonotonicInstant) {
        self.lease = lease
        margin = max(lease / 4, .milliseconds(50))
        interval = max(lease / 4, .milliseconds(20))
        nextAt = now
    }

    /// True when this replica may decide: it leads, has loaded the state, and its lease is surely alive.
    func mayServe(now: MonotonicInstant) -> Bool {
        guard role == .leader(loaded: true), let servingUntil else { return false }
        return now < servingUntil
    }

    /// The leader's address for `not_leader` replies (nil when this replica leads or the leader is unknown).
    var knownLeader: String? {
        if case .follower(let leader) = role { return leader }
        return nil
    }

    /// What to do now (or when to ask again). A leader whose serving window closed steps down first.
    mutating func next(now: MonotonicInstant) -> Action {
        if case .leader = role, let servingUntil, now >= servingUntil {
            stepDown(leader: nil, now: now)
        }
        guard now >= nextAt else { return .wait(until: nextAt) }
        switch role {
        case .follower: return vacant ? .campaign : .poll
        case .leader(loaded: false): return .load
        case .leader(loaded: true): return .renew(lease: leaseID!)
        }
    }

    /// The campaign created the leader key (`revision` is its create revision); `sentAt` is when the lease's
    /// grant was sent, so the lease is alive for at least `lease` from then.
    mutating func won(lease id: Int64, revision: Int64, sentAt: MonotonicInstant, now: MonotonicInstant) {
        role = .leader(loaded: false)
        vacant = false
        leaseID = id
        self.revision = revision
        servingUntil = sentAt + (lease - margin)
        failures = 0
        nextAt = now
    }

    /// The campaign found another leader (or the key held by someone): follow it, and poll.
    mutating func lost(to leader: String?, now: MonotonicInstant) {
        role = .follower(leader: leader)
        vacant = false
        leaseID = nil
        revision = nil
        servingUntil = nil
        failures = 0
        nextAt = now + interval
    }

    /// A follower's poll found the key held by `leader`, or empty (nil): campaign at once when it is empty.
    mutating func polled(leader: String?, now: MonotonicInstant) {
        failures = 0
        role = .follower(leader: leader)
        vacant = leader == nil
        nextAt = vacant ? now : now + interval
    }

    /// The new leader loaded the state; it serves from now on.
    mutating func loaded(now: MonotonicInstant) {
        guard case .leader = role else { return }
        role = .leader(loaded: true)
        nextAt = now
    }

    /// etcd accepted a keep-alive sent at `sentAt`.
    mutating func renewed(sentAt: MonotonicInstant, now: MonotonicInstant) {
        guard case .leader = role else { return }
        servingUntil = sentAt + (lease - margin)
        failures = 0
        nextAt = now + interval
    }

    /// The lease is gone (etcd says so, or a write conditioned on the leader key failed): step down at once.
    mutating func deposed(leader: String?, now: MonotonicInstant) {
        stepDown(leader: leader, now: now)
    }

    /// etcd could not be reached: try again soon (a leader keeps serving only within its window).
    mutating func unreachable(now: MonotonicInstant) {
        failures += 1
        let backoff = min(interval * Double(1 << min(failures, 4)) / 4, lease)
        nextAt = now + max(backoff, .milliseconds(10))
    }

    private mutating func stepDown(leader: String?, now: MonotonicInstant) {
        role = .follower(leader: leader)
        vacant = leader == nil
        leaseID = nil
        revision = nil
        servingUntil = nil
        nextAt = now
    }
}
