public import BreakerCore
import CSQLite

extension BreakerStore {
    /// The most names of unreadable breakers an error lists; the rest are counted.
    static let unreadableNamesListed = 10

    /// Every stored breaker.
    ///
    /// A row that cannot be read refuses the load: a `StoreError` of kind `.unreadableRows` names the file and
    /// the breakers (the first 10, then how many more) and says how to recover (`dropUnreadableRows()`, which
    /// `breakerd --drop-unreadable` runs, or the sqlite3 command). A row is unreadable when its resource is not
    /// UTF-8 text, its policy text does not decode, its state or forced state is unknown (or a forced state has
    /// no force, or a force of the other direction), or its window text does not fit the policy's window shape.
    /// Skipping such a row would serve the breaker as a fresh `closed` one and overwrite the row (and an
    /// operator's force) at the next snapshot.
    ///
    /// - Returns: the rows, in no particular order; `skipped` is always empty (unreadable rows throw; the member
    ///   stays until every caller stops reading it).
    public func loadBreakers() throws(StoreError) -> (breakers: [PersistedBreaker], skipped: [String]) {
        let (rows, unreadable) = try readBreakers(keepRows: true)
        guard unreadable.isEmpty else { throw unreadableRowsError(unreadable.map(\.name)) }
        return (rows, [])
    }

    /// Removes exactly the rows `loadBreakers()` refuses, and the audit log of each of their breakers (as `delete`
    /// does: a breaker made again under the same name starts a new log), in one transaction. Readable rows are
    /// not touched.
    ///
    /// - Returns: the names of the breakers removed, in the order stored (print them: the rows are gone). A
    ///   name that is not valid UTF-8 is shown with U+FFFD in place of the bad bytes; the row removed is still
    ///   exactly the one that was read.
    public func dropUnreadableRows() throws(StoreError) -> [String] {
        let (_, unreadable) = try readBreakers(keepRows: false)
        guard !unreadable.isEmpty else { return [] }
        do {
            try transaction { () throws(SQLiteError) in
                for row in unreadable {
                    try deleteBreaker.run { $0.bind(1, row.key) }
                    try deleteTransitions.run { $0.bind(1, row.key) }
                }
            }
        } catch {
            throw Self.classify(error, path: path)
        }
        return unreadable.map(\.name)
    }

    /// Every breaker row, read; and the ones that cannot be (`loadBreakers()` says which), with their exact keys.
    private func readBreakers(
        keepRows: Bool
    ) throws(StoreError) -> ([PersistedBreaker], [(name: String, key: StoredValue)]) {
        do {
            let s = try connection.prepare(
                """
                SELECT resource, policy, state, generation, next_permit, open_until_ms, forced_state, forced_reason,
                    forced_by, forced_until_ms, changed_at_ms, window, saved_at_ms, forced_ttl_ms, cooldown_current_ms
                FROM breakers
                """
            )
            var out: [PersistedBreaker] = []
            var unreadable: [(name: String, key: StoredValue)] = []
            // Breakers share a few policies: parse each policy text once.
            var policies: [String: BreakerPolicy] = [:]
            while try s.step() {
                let resource = s.text(0) ?? ""
                let policyText = s.text(1) ?? ""
                var policy = policies[policyText]
                if policy == nil, let parsed = BreakerPolicy(encoded: policyText) {
                    policy = parsed
                    if policies.count < 10_000 { policies[policyText] = parsed }
                }
                let forcedText = s.text(6)
                let target = forcedText.flatMap(BreakerForce.Target.init(rawValue:))
                let window = s.text(11) ?? ""
                guard s.isValidText(0), let policy, let state = BreakerState(rawValue: s.text(2) ?? ""),
                    forcedText == nil || target != nil, target == Self.forceTarget(of: state),
                    OutcomeWindow.fits(window, shape: policy.window)
                else {
                    if let key = s.storedValue(0) { unreadable.append((resource, key)) }
                    continue
                }
                guard keepRows else { continue }
                let forced = target.map {
                    PersistedBreaker.Forced(
                        target: $0,
                        reason: s.text(7),
                        by: s.text(8),
                        untilMs: s.optionalInt64(9),
                        ttlMs: s.optionalInt64(13)
                    )
                }
                out.append(
                    PersistedBreaker(
                        resource: resource,
                        policy: policy,
                        state: state,
                        generation: UInt64(max(0, s.int64(3))),
                        nextPermitSequence: UInt64(max(1, s.int64(4))),
                        openUntilMs: s.optionalInt64(5),
                        forced: forced,
                        changedAtMs: s.int64(10),
                        window: window,
                        savedAtMs: s.int64(12),
                        cooldownCurrentMs: s.optionalInt64(14)
                    )
                )
            }
            return (out, unreadable)
        } catch {
            throw Self.classify(error, path: path)
        }
    }

    /// The refusal `loadBreakers()` throws: the file, the breakers, and the two ways to recover.
    func unreadableRowsError(_ names: [String]) -> StoreError {
        let listed = names.prefix(Self.unreadableNamesListed)
        let more = names.count > listed.count ? " and \(names.count - listed.count) more" : ""
        let file = Self.shellQuoted(path)
        var message =
            "database \(path): \(names.count) stored breaker\(names.count == 1 ? "" : "s") cannot be read ("
            + listed.map { String(reflecting: $0) }.joined(separator: ", ") + more
            + "): a policy, state, force or window this breakerd does not understand. breakerd does not start, so "
            + "that nothing is overwritten. To remove exactly these breakers and their audit logs, start once with "
            + "`breakerd --db \(file) --drop-unreadable` (it prints each one it removes)"
        if names.count == listed.count, listed.allSatisfy(Self.isPlainName) {
            let list = listed.map { "'\($0)'" }.joined(separator: ", ")
            message +=
                ", or run: sqlite3 \(file) \"DELETE FROM breakers WHERE resource IN (\(list)); "
                + "DELETE FROM transitions WHERE resource IN (\(list))\""
        }
        message += ". If a newer breakerd wrote them, run that version instead, or restore a backup"
        return StoreError(.unreadableRows, message)
    }

    /// The audit log of every breaker, oldest first: for each, its newest `limit` records (at most
    /// `TransitionRecord.retentionLimit` are stored). Older records stay in the database for `HistoryReader`.
    /// Records with a state or cause this version does not know are left out.
    ///
    /// - Parameter limit: how many of each breaker's newest records to return (0 or less: none).
    public func loadTransitions(
        newestPerResource limit: Int = TransitionRecord.retentionLimit
    ) throws(StoreError) -> [String: [TransitionRecord]] {
        guard limit > 0 else { return [:] }
        do {
            // One index seek per breaker rather than a scan of every record: find the next resource name, then
            // read its newest records.
            let first = try connection.prepare("SELECT resource FROM transitions ORDER BY resource LIMIT 1")
            let next = try connection.prepare(
                "SELECT resource FROM transitions WHERE resource > ?1 ORDER BY resource LIMIT 1"
            )
            let newest = try connection.prepare(
                """
                SELECT generation, from_state, to_state, cause, at_ms, by, reason, shadow FROM transitions
                WHERE resource = ?1 ORDER BY generation DESC LIMIT ?2
                """
            )
            var out: [String: [TransitionRecord]] = [:]
            var key = try first.step() ? first.storedValue(0) : nil
            while let current = key {
                newest.reset()
                newest.bind(1, current)
                newest.bind(2, Int64(limit))
                var records: [TransitionRecord] = []
                while try newest.step() {
                    if let record = Self.transition(newest, from: 0) { records.append(record) }
                }
                if !records.isEmpty { out[Self.text(of: current), default: []] += records.reversed() }
                next.reset()
                next.bind(1, current)
                key = try next.step() ? next.storedValue(0) : nil
            }
            return out
        } catch {
            throw Self.classify(error, path: path)
        }
    }

    /// One audit-log record from the columns `generation, from_state, to_state, cause, at_ms, by, reason,
    /// shadow` starting at `column`; nil when a state or the cause is unknown.
    static func transition(_ s: Statement, from column: Int32) -> TransitionRecord? {
        guard let from = BreakerState(rawValue: s.text(column + 1) ?? ""),
            let to = BreakerState(rawValue: s.text(column + 2) ?? ""),
            let cause = TransitionCause(rawValue: s.text(column + 3) ?? "")
        else { return nil }
        return TransitionRecord(
            from: from,
            to: to,
            cause: cause,
            generation: UInt64(max(0, s.int64(column))),
            atMs: s.int64(column + 4),
            by: s.text(column + 5),
            reason: s.text(column + 6),
            shadow: s.int64(column + 7) != 0
        )
    }

    /// The force a breaker in `state` has: `.open` for `forced_open`, `.closed` for `forced_closed`, else none.
    private static func forceTarget(of state: BreakerState) -> BreakerForce.Target? {
        switch state {
        case .forcedOpen: .open
        case .forcedClosed: .closed
        case .closed, .open, .halfOpen: nil
        }
    }

    private static func text(of value: StoredValue) -> String {
        guard let p = sqlite3_value_text(value.handle) else { return "" }
        let count = Int(sqlite3_value_bytes(value.handle))
        return String(decoding: UnsafeBufferPointer(start: p, count: count), as: UTF8.self)
    }

    /// True for a name of `A–Z a–z 0–9 . _ : / @ -` only (safe inside quotes in SQL and in a shell).
    private static func isPlainName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy(isPlainByte)
    }

    private static func isPlainByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: ":"),
            UInt8(ascii: "/"), UInt8(ascii: "@"), UInt8(ascii: "-"):
            true
        default: false
        }
    }

    /// `path` as one shell word: as it is when plain, else in single quotes.
    static func shellQuoted(_ path: String) -> String {
        if !path.isEmpty, path.utf8.allSatisfy(isPlainByte) { return path }
        var quoted = "'"
        for c in path { quoted += c == "'" ? "'\\''" : String(c) }
        return quoted + "'"
    }
}
