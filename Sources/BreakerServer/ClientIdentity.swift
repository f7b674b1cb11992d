#if canImport(Glibc)
import Glibc
#endif

/// Who reported an outcome, for a policy's `min_failing_clients`: the connection's `hello` `client` name, else
/// its peer's IP address without the port, hashed to a nonzero `UInt64` (0 means "unknown" to BreakerCore).
enum ClientIdentity {
    /// FNV-1a (64 bits) of `name`'s UTF-8 bytes; 0 becomes 1.
    static func hash(_ name: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in name.utf8 {
            h ^= UInt64(byte)
            h &*= 0x0000_0100_0000_01B3
        }
        return h == 0 ? 1 : h
    }

    /// The identity of the peer of the connected socket `fd`: the hash of its IP address (`127.0.0.1`, `::1`),
    /// or 0 when the address cannot be read.
    static func peer(of fd: Int32) -> UInt64 {
        peerAddress(of: fd).map(hash) ?? 0
    }

    /// The IP address of the peer of `fd`, as text without the port; nil when it cannot be read.
    static func peerAddress(of fd: Int32) -> String? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) == 0 }
        }
        guard ok else { return nil }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        let family = Int32(storage.ss_family)
        let written: Bool
        switch family {
        case AF_INET6:
            written = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p in
                    var address = p.pointee.sin6_addr
                    // An IPv4 client of a dual-stack listener (::ffff:a.b.c.d) is named as on an IPv4 one.
                    let bytes = withUnsafeBytes(of: &address) { Array($0) }
                    if bytes.prefix(10).allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
                        var v4 = in_addr()
                        withUnsafeMutableBytes(of: &v4) { $0.copyBytes(from: bytes[12..<16]) }
                        return inet_ntop(AF_INET, &v4, &text, socklen_t(text.count)) != nil
                    }
                    return inet_ntop(AF_INET6, &address, &text, socklen_t(text.count)) != nil
                }
            }
        case AF_INET:
            written = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { p in
                    var address = p.pointee.sin_addr
                    return inet_ntop(AF_INET, &address, &text, socklen_t(text.count)) != nil
                }
            }
        default:
            written = false
        }
        guard written else { return nil }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
