public import BreakerCore
public import BreakerProtocol

#if canImport(Glibc)
import Glibc
#endif

/// The server's objects as JSON lines, for `--json`.
public enum ControlJSON {
    /// A breaker object.
    public static func breaker(_ b: BreakerInfo) -> String {
        var w = JSONWriter()
        b.write(to: &w)
        return String(decoding: w.bytes, as: UTF8.self)
    }

    /// A transition object, as `history` returns it.
    public static func transition(_ r: TransitionRecord) -> String {
        var w = JSONWriter()
        w.beginObject()
        r.writeMembers(to: &w)
        w.endObject()
        return String(decoding: w.bytes, as: UTF8.self)
    }

    /// An event as the server pushes it (without its newline).
    public static func event(_ e: BreakerEvent) -> String {
        var w = JSONWriter()
        e.write(into: &w)
        return String(decoding: w.bytes.dropLast(), as: UTF8.self)
    }

    /// The `stats` object as the server sends it.
    public static func stats(_ s: StatsReply) -> String {
        var w = JSONWriter()
        s.writeObject(to: &w)
        return String(decoding: w.bytes, as: UTF8.self)
    }
}
