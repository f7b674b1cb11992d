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

    /// The identity of a peer: the hash of its IP address, without the port.
    static func peer(_ address: PeerAddress?) -> UInt64 {
        address.map { hash($0.ip) } ?? 0
    }
}
