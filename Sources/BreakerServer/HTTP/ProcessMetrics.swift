#if canImport(Glibc)
import Glibc
#endif

/// The process's own figures for `/metrics` (the names of the Prometheus client libraries' process collector),
/// read from `/proc/self` at scrape time. A figure that cannot be read is nil and left out.
struct ProcessMetrics {
    var residentMemoryBytes: Int?
    var virtualMemoryBytes: Int?
    var cpuSeconds: Double?
    var openDescriptors: Int?
    var maximumDescriptors: Int?

    /// Reads the figures now.
    static func now() -> ProcessMetrics {
        var m = ProcessMetrics()
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        if let statm = readFile("/proc/self/statm") {
            let fields = statm.split(separator: " ")
            if fields.count >= 2, let size = Int(fields[0]), let resident = Int(fields[1]) {
                m.virtualMemoryBytes = size * page
                m.residentMemoryBytes = resident * page
            }
        }
        // Fields after the command name (which may hold spaces, so split after its closing parenthesis):
        // utime and stime are the 14th and 15th fields of the whole line, the 12th and 13th after ")".
        if let stat = readFile("/proc/self/stat"), let close = stat.lastIndex(of: ")") {
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
            if fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]), ticks > 0 {
                m.cpuSeconds = (user + system) / ticks
            }
        }
        if let dir = opendir("/proc/self/fd") {
            var n = 0
            while let entry = readdir(dir) {
                let isDot = withUnsafeBytes(of: entry.pointee.d_name) { $0.first == UInt8(ascii: ".") }
                if !isDot { n += 1 }
            }
            closedir(dir)
            m.openDescriptors = max(0, n - 1)  // less the descriptor opendir itself holds
        }
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 {
            m.maximumDescriptors = Int(clamping: limit.rlim_cur)
        }
        return m
    }

    /// A small text file's contents (at most 4 KiB), or nil.
    private static func readFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4_096)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n], as: UTF8.self)
    }
}
