import CSQLite

extension BreakerStore {
    /// Brings the schema from `version` to `schemaVersion`, one step per version, each in its own transaction.
    func migrate(from version: Int64) throws(SQLiteError) {
        var v = version
        while v < Self.schemaVersion {
            try connection.execute("BEGIN IMMEDIATE")
            do {
                switch v {
                case 0:
                    try connection.execute(
                        """
                        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
                        CREATE TABLE breakers (
                            resource TEXT PRIMARY KEY,
                            policy TEXT NOT NULL,
                            state TEXT NOT NULL,
                            generation INTEGER NOT NULL,
                            next_permit INTEGER NOT NULL,
                            open_until_ms INTEGER,
                            forced_state TEXT,
                            forced_reason TEXT,
                            forced_by TEXT,
                            forced_until_ms INTEGER,
                            changed_at_ms INTEGER NOT NULL,
                            window TEXT NOT NULL,
                            saved_at_ms INTEGER NOT NULL
                        ) WITHOUT ROWID;
                        CREATE TABLE transitions (
                            resource TEXT NOT NULL,
                            generation INTEGER NOT NULL,
                            from_state TEXT NOT NULL,
                            to_state TEXT NOT NULL,
                            cause TEXT NOT NULL,
                            at_ms INTEGER NOT NULL,
                            by TEXT,
                            reason TEXT,
                            PRIMARY KEY (resource, generation)
                        ) WITHOUT ROWID;
                        INSERT INTO meta (key, value) VALUES ('created_by', 'breakerd');
                        """
                    )
                case 1:
                    try connection.execute(Self.migration1to2)
                case 2:
                    try connection.execute(Self.migration2to3)
                default:
                    break
                }
                v += 1
                try connection.execute("PRAGMA user_version = \(v)")
                try connection.execute("COMMIT")
            } catch {
                try? connection.execute("ROLLBACK")
                throw error
            }
        }
    }

    /// Schema 1 → 2: each policy from protocol JSON (as `WirePolicy.write` made it) to `BreakerPolicy.encoded`
    /// text, in SQL; and the force's TTL. A JSON null or absent member is left out (its default applies); a
    /// window that cannot be converted becomes `w=?`, which `BreakerPolicy(encoded:)` rejects, so the row is
    /// skipped on load as a policy JSON this version rejected would have been. Rows whose policy is not JSON
    /// with a `failure_threshold` string are left as they are (skipped on load, as before).
    static let migration1to2 = """
        UPDATE breakers SET policy = 'v=1;f=' || json_extract(policy, '$.failure_threshold')
            || coalesce(';s=' || json_extract(policy, '$.success_threshold'), '')
            || coalesce(';c=' || json_extract(policy, '$.cooldown_ms'), '')
            || CASE coalesce(json_type(policy, '$.window'), 'null')
                WHEN 'null' THEN ''
                ELSE ';w=' || coalesce(
                    CASE json_extract(policy, '$.window.type')
                        WHEN 'count' THEN 'count:' || json_extract(policy, '$.window.size')
                        WHEN 'time' THEN 'time:' || json_extract(policy, '$.window.ms')
                            || ':' || json_extract(policy, '$.window.buckets')
                    END, '?')
            END
            || coalesce(';m=' || json_extract(policy, '$.minimum_calls'), '')
            || coalesce(';p=' || json_extract(policy, '$.half_open_permits'), '')
            || coalesce(';t=' || json_extract(policy, '$.permit_ttl_ms'), '')
        WHERE CASE WHEN json_valid(policy) THEN json_type(policy, '$.failure_threshold') = 'text' ELSE 0 END;
        ALTER TABLE breakers ADD COLUMN forced_ttl_ms INTEGER;
        """

    /// Schema 2 → 3 (issue #16): each breaker's grown cooldown (NULL, the policy's cooldown, for every breaker
    /// written before), and whether a transition happened in shadow mode (0 for every one written before).
    /// Policies need no change: the new policy fields are keys of `BreakerPolicy.encoded` that older text lacks.
    static let migration2to3 = """
        ALTER TABLE breakers ADD COLUMN cooldown_current_ms INTEGER;
        ALTER TABLE transitions ADD COLUMN shadow INTEGER NOT NULL DEFAULT 0;
        """
}
