#if canImport(Glibc)
import Glibc
#endif

/// The process's open-file limit, raised as far as the system allows so that `--max-connections` can be met.
enum DescriptorLimit {
    /// Descriptors kept back for everything that is not a client connection: listeners, epoll and eventfd
    /// descriptors, the database and its WAL, token files, logs.
    static let reserved = 64

    /// Raises the soft `RLIMIT_NOFILE` to the hard limit. Returns the soft limit in force afterwards.
    static func raiseToHardLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return Int(Int32.max) }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return Int(clamping: limit.rlim_cur)  // RLIM_INFINITY is the largest value: clamped to Int.max
    }

    /// The most connections that fit in `softLimit` descriptors.
    static func connectionsThatFit(_ softLimit: Int) -> Int {
        max(1, softLimit - reserved)
    }
}
