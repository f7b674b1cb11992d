extension BreakerStateMachine {
    // MARK: Internals

    mutating func move(to newState: BreakerState, cause: TransitionCause, now: MonotonicInstant) -> BreakerTransition {
        generation = generation < Self.maximumCounter ? generation + 1 : generation
        let transition = BreakerTransition(
            from: state,
            to: newState,
            cause: cause,
            generation: generation,
            at: now,
            shadow: policy.mode == .shadow
        )
        state = newState
        changedAt = now
        force = nil
        outstanding.removeAll(keepingCapacity: true)
        probeSuccesses = 0
        probeFailures = 0
        switch newState {
        case .open:
            if cause == .probesFailed, let growth = policy.cooldownGrowth {
                currentCooldown = Self.cooldown(currentCooldown * growth.multiplier, within: policy)
            }
            openUntil = now + jittered(currentCooldown)
        case .closed:
            window.removeAll()
            currentCooldown = policy.cooldown
        case .forcedOpen, .forcedClosed:
            window.removeAll()
        case .halfOpen:
            break
        }
        return transition
    }

    /// `cooldown` within the policy's bounds: at least its cooldown, at most its maximum (or the cooldown
    /// itself when it does not grow).
    public static func cooldown(_ cooldown: Duration, within policy: BreakerPolicy) -> Duration {
        min(max(cooldown, policy.cooldown), policy.cooldownGrowth?.maximum ?? policy.cooldown)
    }

    /// `cooldown` scaled by a random factor in [1 − jitter, 1 + jitter] (itself without jitter).
    mutating func jittered(_ cooldown: Duration) -> Duration {
        let jitter = policy.cooldownJitter
        guard jitter > 0 else { return cooldown }
        // SplitMix64: the next 64 random bits, of which the top 53 make a uniform Double in [0, 1).
        randomState &+= 0x9E37_79B9_7F4A_7C15
        var z = randomState
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        let unit = Double(z >> 11) * 0x1p-53
        return cooldown * (1 - jitter + 2 * jitter * unit)
    }

    mutating func expireForce(now: MonotonicInstant, into transitions: inout [BreakerTransition]) {
        if let until = force?.until, now >= until {
            transitions.append(move(to: .closed, cause: .forceExpired, now: now))
        }
    }

    mutating func expireProbes(now: MonotonicInstant) {
        outstanding.removeAll { $0.expires <= now }
    }

    mutating func grantProbe(now: MonotonicInstant, transitions: [BreakerTransition]) -> AcquireDecision {
        expireProbes(now: now)
        guard outstanding.count + probeSuccesses + probeFailures < policy.halfOpenPermits else {
            // Every slot is taken by a permit still out: the earliest one frees up at its expiry at the latest.
            let wait = outstanding.map(\.expires).min().map { $0 - now } ?? policy.permitTTL
            return AcquireDecision(allowed: false, permit: nil, retryAfter: wait, transitions: transitions)
        }
        let permit = Permit(generation: generation, sequence: nextPermitSequence)
        nextPermitSequence = nextPermitSequence < Self.maximumCounter ? nextPermitSequence + 1 : nextPermitSequence
        outstanding.append(Probe(sequence: permit.sequence, expires: now + policy.permitTTL))
        return AcquireDecision(allowed: true, permit: permit, retryAfter: nil, transitions: transitions)
    }

    /// Checks the failure rule after failures, and the slow-call rule after slow outcomes.
    mutating func tripIfThresholdReached(
        failures checkFailures: Bool,
        slow checkSlow: Bool,
        now: MonotonicInstant,
        into transitions: inout [BreakerTransition]
    ) {
        guard state == .closed, checkFailures || checkSlow else { return }
        let (calls, failures) = window.totals(now: now)
        guard calls >= policy.minimumCalls else { return }
        if checkFailures, policy.failureThreshold.isReached(by: failures, of: calls),
            policy.minFailingClients <= 1 || window.failingClients(now: now) >= policy.minFailingClients
        {
            transitions.append(move(to: .open, cause: .failureThreshold, now: now))
        } else if checkSlow, let rule = policy.slowCall,
            rule.threshold.isReached(by: window.slowCount(now: now), of: calls)
        {
            transitions.append(move(to: .open, cause: .slowCallThreshold, now: now))
        }
    }

    mutating func decideIfProbesComplete(now: MonotonicInstant, into transitions: inout [BreakerTransition]) {
        let probes = probeSuccesses + probeFailures
        guard probes >= policy.halfOpenPermits else { return }
        let close: Bool
        if let successThreshold = policy.successThreshold {
            close = successThreshold.isReached(by: probeSuccesses, of: probes)
        } else {
            close = !policy.failureThreshold.isReached(by: probeFailures, of: probes)
        }
        transitions.append(
            close
                ? move(to: .closed, cause: .probesSucceeded, now: now)
                : move(to: .open, cause: .probesFailed, now: now)
        )
    }
}
