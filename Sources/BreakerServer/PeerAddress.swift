#if canImport(Glibc)
import Glibc
#endif

/// The address of a connection's peer: for logs and the audit log (`IP:PORT`), and for `min_failing_clients`
/// (the IP alone, see `ClientIdentity`).
struct PeerAddress: Sendable, CustomStringConvertible {
    /// The IP address as text (`127.0.0.1`, `::1`); an IPv4 client of a dual-stack listener (`::ffff:a.b.c.d`)
    /// is named as on an IPv4 one.
    let ip: String
    let port: UInt16
    let isIPv6: Bool

    /// `IP:PORT`, or `[IPv6]:PORT`.
    var description: String { isIPv6 ? "[\(ip)]:\(port)" : "\(ip):\(port)" }

    /// The peer of the connected socket `fd`, or nil when it cannot be read (the peer already reset).
    static func of(_ fd: Int32) -> PeerAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) == 0 }
        }
        return ok ? PeerAddress(storage) : nil
    }

    /// `IP:PORT` of the peer of `fd`, or `unknown`.
    static func text(of fd: Int32) -> String { of(fd)?.description ?? "unknown" }

    /// An address as `accept` or `getpeername` filled it in; nil for a family other than IPv4 and IPv6.
    init?(_ address: sockaddr_storage) {
        var storage = address
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        switch Int32(storage.ss_family) {
        case AF_INET6:
            let (written, port, mapped) = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p -> (Bool, UInt16, Bool) in
                    var address = p.pointee.sin6_addr
                    let port = UInt16(bigEndian: p.pointee.sin6_port)
                    let bytes = withUnsafeBytes(of: &address) { Array($0) }
                    if bytes.prefix(10).allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
                        var v4 = in_addr()
                        withUnsafeMutableBytes(of: &v4) { $0.copyBytes(from: bytes[12..<16]) }
                        return (inet_ntop(AF_INET, &v4, &text, socklen_t(text.count)) != nil, port, true)
                    }
                    return (inet_ntop(AF_INET6, &address, &text, socklen_t(text.count)) != nil, port, false)
                }
            }
            guard written else { return nil }
            self.port = port
            self.isIPv6 = !mapped
        case AF_INET:
            let (written, port) = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { p -> (Bool, UInt16) in
                    var address = p.pointee.sin_addr
                    return (
                        inet_ntop(AF_INET, &address, &text, socklen_t(text.count)) != nil,
                        UInt16(bigEndian: p.pointee.sin_port)
                    )
                }
            }
            guard written else { return nil }
            self.port = port
            self.isIPv6 = false
        default:
            return nil
        }
        self.ip = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
