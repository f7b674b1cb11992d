#if canImport(Glibc)
import Glibc
#endif

/// The address of a connected socket's peer, for logs and the audit log.
enum PeerAddress {
    /// `IP:PORT` of the peer (`[IPv6]:PORT`), or `unknown`.
    static func of(_ fd: Int32) -> String {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) == 0 }
        }
        guard ok else { return "unknown" }
        return describe(storage)
    }

    /// `IP:PORT` (`[IPv6]:PORT`) of an address as `accept` filled it in.
    static func describe(_ address: sockaddr_storage) -> String {
        var storage = address
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        func ip() -> String { String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        if Int32(storage.ss_family) == AF_INET6 {
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p -> String in
                    var address = p.pointee.sin6_addr
                    inet_ntop(AF_INET6, &address, &text, socklen_t(text.count))
                    return "[\(ip())]:\(UInt16(bigEndian: p.pointee.sin6_port))"
                }
            }
        }
        return withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { p -> String in
                var address = p.pointee.sin_addr
                inet_ntop(AF_INET, &address, &text, socklen_t(text.count))
                return "\(ip()):\(UInt16(bigEndian: p.pointee.sin_port))"
            }
        }
    }
}
