import Foundation

/// A real etcd member (Debian `etcd-server`) for tests: a single-member cluster on free loopback ports with its
/// data in a temporary directory, stopped (and its directory removed) by `stop()` or when released.
public final class EtcdProcess: @unchecked Sendable {  // Immutable after init but for `process`, used by one test.
    public let process: Process
    public let clientPort: Int
    public let peerPort: Int
    public let directory: String

    /// `etcd` on PATH, or nil.
    public static var binary: String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let path = "\(dir)/etcd"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    /// A free TCP port on 127.0.0.1 (bound, read and released).
    public static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Starts the member and waits until it answers (at most 20 s). With `tls` (certificate, key, and the CA that
    /// client certificates must be signed by), its client URL is https and it requires client certificates.
    public init(tls: (certificate: String, key: String, clientCA: String)? = nil) throws {
        guard let binary = Self.binary else {
            throw LineClient.Failure(
                description: "these tests run a real etcd: apt-get install etcd-server (CI installs it)"
            )
        }
        directory = NSTemporaryDirectory() + "hb-etcd-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        clientPort = Self.freePort()
        peerPort = Self.freePort()
        process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        let client = "\(tls == nil ? "http" : "https")://127.0.0.1:\(clientPort)"
        let peer = "http://127.0.0.1:\(peerPort)"
        process.arguments = [
            "--name", "test", "--data-dir", directory + "/data", "--listen-client-urls", client,
            "--advertise-client-urls", client, "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", "test=\(peer)", "--log-level", "error",
        ]
        if let tls {
            process.arguments! += [
                "--cert-file", tls.certificate, "--key-file", tls.key, "--trusted-ca-file", tls.clientCA,
                "--client-cert-auth",
            ]
        }
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if let client = try? LineClient(port: clientPort) {
                _ = client
                // Listening; the member serves once it has elected itself (a few hundred ms at most).
                usleep(300_000)
                return
            }
            usleep(50_000)
        }
        process.terminate()
        throw LineClient.Failure(description: "etcd did not start on 127.0.0.1:\(clientPort) within 20 s")
    }

    /// `HOST:PORT` of its client URL.
    public var endpoint: String { "127.0.0.1:\(clientPort)" }

    /// SIGKILL (a member lost), or SIGSTOP/SIGCONT.
    public func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    public func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    deinit { stop() }
}
