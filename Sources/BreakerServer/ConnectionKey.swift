/// Names one connection across threads: its event loop, its descriptor, and a serial number that tells a
/// reused descriptor from the connection that had it before.
struct ConnectionKey: Sendable, Hashable {
    let loop: Int
    let fd: Int32
    let serial: UInt64
}
