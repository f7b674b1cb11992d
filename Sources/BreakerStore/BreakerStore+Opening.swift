import CSQLite

#if canImport(Glibc)
import Glibc
#endif

extension BreakerStore {
    /// Refuses directories and foreign files, then takes the one-writer lock (`flock`, independent of SQLite's
    /// own locks). Returns the locked descriptor, kept open for the life of the store.
    static func checkAndLock(_ path: String) throws(StoreError) -> Int32 {
        var info = stat()
        if stat(path, &info) == 0 {
            if (info.st_mode & S_IFMT) == S_IFDIR {
                throw StoreError(.unreadable, "database \(path) is a directory; give --db a file path")
            }
            if info.st_size > 0 {
                // Every SQLite database starts with this 16-byte header; anything else is not ours to touch.
                guard let file = fopen(path, "rb") else {
                    let reason = String(cString: strerror(errno))
                    throw StoreError(.unreadable, "database \(path) cannot be read: \(reason); check its permissions")
                }
                var header = [UInt8](repeating: 0, count: 16)
                let n = fread(&header, 1, 16, file)
                fclose(file)
                guard n == 16, header == Array("SQLite format 3\0".utf8) else {
                    throw StoreError(
                        .notADatabase,
                        "\(path) is not a SQLite database; breakerd will not overwrite it. Give --db another path"
                    )
                }
            }
        }
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            throw StoreError(
                .unreadable,
                "database \(path) cannot be opened: \(reason); check the path and its permissions"
            )
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let e = errno
            close(fd)
            if e == EWOULDBLOCK {
                throw StoreError(
                    .inUse,
                    "database \(path) is in use by another breakerd; one server writes one database file"
                )
            }
            throw StoreError(.unreadable, "database \(path) cannot be locked: \(String(cString: strerror(e)))")
        }
        return fd
    }

    static func unlock(_ fd: Int32) {
        guard fd >= 0 else { return }
        flock(fd, LOCK_UN)
        close(fd)
    }

    static func classify(_ error: SQLiteError, path: String) -> StoreError {
        switch error.primaryCode {
        case SQLITE_NOTADB:
            StoreError(
                .notADatabase,
                "\(path) is not a SQLite database (\(error.message)); breakerd will not overwrite it. "
                    + "Give --db another path"
            )
        case SQLITE_CORRUPT:
            StoreError(.corrupt, corruptMessage(path, detail: error.message))
        case SQLITE_CANTOPEN, SQLITE_PERM, SQLITE_READONLY, SQLITE_AUTH:
            StoreError(
                .unreadable,
                "database \(path) cannot be opened (\(error.message)); check that it and its directory are readable "
                    + "and writable by breakerd"
            )
        case SQLITE_BUSY, SQLITE_LOCKED:
            StoreError(.inUse, "database \(path) is locked by another process (\(error.message))")
        default:
            StoreError(.sqlite, "database \(path): \(error)")
        }
    }

    /// Checks an existing database without changing any of its files: opens it read-only with a read-only
    /// `-shm` (`SQLiteConnection.Mode.inspect`), reads the schema version and runs `PRAGMA quick_check`. Nothing
    /// to check when the file is empty and has no `-wal` (a new database). Without a `-shm` file a WAL database
    /// cannot be read with a read-only one, so then a plain read-only connection checks it (SQLite creates the
    /// `-shm`; the database and its `-wal` still stay as they are).
    static func inspect(_ path: String) throws(StoreError) {
        var info = stat()
        let size = stat(path, &info) == 0 ? Int64(info.st_size) : 0
        let hasWAL = access(path + "-wal", F_OK) == 0
        guard size > 0 || hasWAL else { return }
        let hasSHM = access(path + "-shm", F_OK) == 0
        do {
            let connection = try SQLiteConnection(path: path, mode: hasSHM ? .inspect : .readOnly)
            try connection.execute("PRAGMA busy_timeout = 5000")
            try checkVersion(try connection.integer("PRAGMA user_version"), path: path)
            let check = try connection.strings("PRAGMA quick_check")
            guard check == ["ok"] else {
                throw StoreError(.corrupt, corruptMessage(path, detail: check.prefix(3).joined(separator: "; ")))
            }
        } catch let error as StoreError {
            throw error
        } catch let error as SQLiteError {
            throw classify(error, path: path)
        } catch {
            throw StoreError(.sqlite, "database \(path): \(error)")
        }
    }

    /// Refuses a schema newer than this build's.
    static func checkVersion(_ version: Int64, path: String) throws(StoreError) {
        guard version <= schemaVersion else {
            throw StoreError(
                .newerSchema,
                "database \(path) has schema version \(version), newer than this breakerd understands "
                    + "(\(schemaVersion)); run a newer breakerd, or restore a backup made by this version"
            )
        }
    }

    static func corruptMessage(_ path: String, detail: String) -> String {
        "database \(path) is corrupt (\(detail)); breakerd left it and its -wal and -shm files as they were. "
            + "Restore it from a backup, or move all three aside to start empty"
    }
}
