import BreakerProtocol
public import Logging

#if canImport(Glibc)
import Glibc
#endif

/// A swift-log handler that writes each event as one JSON object on one line (`breakerd --log-format json`):
///
/// ```
/// {"ts":"2026-11-25T10:15:37.123Z","level":"info","logger":"breakerd","msg":"transition",
///  "cause":"failure_threshold","from":"closed","generation":1,"resource":"db","to":"open"}
/// ```
/// (one line in the output).
///
/// - `ts`: the wall-clock time, RFC 3339 in UTC with milliseconds.
/// - `level`: `trace`, `debug`, `info`, `notice`, `warning`, `error` or `critical`.
/// - `logger`: the logger's label.
/// - `msg`: the message.
/// - Every metadata field (the handler's, the metadata provider's and the event's, later ones winning) at the top
///   level, sorted by name; nested metadata becomes nested objects and arrays, a whole number or a `Bool` given as
///   `.stringConvertible` a JSON number or boolean (`"generation":3`), every other value a string. A field
///   whose name is one of the four above is written as `field_<name>` (`field_msg`), so it cannot overwrite them. An
///   error attached to the event is written as `error.message` and `error.type`, as swift-log's `StreamLogHandler`
///   does.
///
/// Strings are escaped as JSON requires (quotes, backslashes and every control character, NUL included), so one
/// event is always one line. Each line is handed to a single `write(2)`; on a pipe, lines up to `PIPE_BUF` (4 KiB)
/// written by different threads never interleave (a longer line, or a write the kernel cuts short, may).
public struct JSONLogHandler: LogHandler {
    /// The names the handler writes itself; a metadata field with one of these names is prefixed with `field_`.
    public static let reservedKeys: Set<String> = ["ts", "level", "logger", "msg"]

    /// The prefix given to a metadata field named like a reserved key.
    public static let collisionPrefix = "field_"

    /// The logger's label, written as `logger`.
    public let label: String
    /// The lowest level written.
    public var logLevel: Logger.Level = .info
    /// Metadata written with every event of this handler.
    public var metadata: Logger.Metadata = [:]
    /// Supplies metadata for every event (swift-log's task-local metadata, for example).
    public var metadataProvider: Logger.MetadataProvider?

    private let fileDescriptor: Int32
    private let wallClock: WallClock

    /// A handler writing to `fileDescriptor` (standard error by default).
    ///
    /// - Parameters:
    ///   - label: the logger's label.
    ///   - fileDescriptor: where each line is written, with one `write(2)` per line.
    ///   - metadataProvider: supplies metadata for every event (default: `LoggingSystem`'s).
    ///   - wallClock: the time stamped in `ts`, in milliseconds since the Unix epoch (tests pass a fixed one).
    public init(
        label: String,
        fileDescriptor: Int32 = STDERR_FILENO,
        metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider,
        wallClock: @escaping WallClock = systemWallClock
    ) {
        self.label = label
        self.fileDescriptor = fileDescriptor
        self.metadataProvider = metadataProvider
        self.wallClock = wallClock
    }

    /// One metadata field of this handler.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Writes `event` as one line.
    public func log(event: LogEvent) {
        let line = self.line(for: event)
        line.withUnsafeBytes { bytes in
            var offset = 0
            // One write for the whole line; the loop only finishes a write that a signal or a full pipe cut short.
            while offset < bytes.count {
                let n = Glibc.write(fileDescriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if n > 0 {
                    offset += n
                } else if n < 0 && errno == EINTR {
                    continue
                } else {
                    return
                }
            }
        }
    }

    /// The bytes of `event`'s line, newline included.
    func line(for event: LogEvent) -> [UInt8] {
        var fields = metadata
        if let provided = metadataProvider?.get(), !provided.isEmpty {
            fields.merge(provided) { _, provided in provided }
        }
        if let explicit = event.metadata, !explicit.isEmpty {
            fields.merge(explicit) { _, explicit in explicit }
        }
        if let error = event.error {
            fields["error.message"] = "\(error)"
            fields["error.type"] = "\(String(reflecting: type(of: error)))"
        }

        var w = JSONWriter(bytes: [])
        w.bytes.reserveCapacity(256)
        w.beginObject()
        w.member("ts", Self.timestamp(milliseconds: wallClock()))
        w.member("level", event.level.rawValue)
        w.member("logger", label)
        w.member("msg", event.message.description)
        for (name, value) in Self.topLevelNames(fields) {
            w.dynamicKey(name)
            Self.writeValue(value, into: &w)
        }
        w.endObject()
        w.newline()
        return w.bytes
    }

    /// The metadata fields, sorted by name, each under the name it is written with: a reserved name is prefixed
    /// (again, while the prefixed name is taken too).
    private static func topLevelNames(_ fields: Logger.Metadata) -> [(String, Logger.Metadata.Value)] {
        var out: [(String, Logger.Metadata.Value)] = []
        out.reserveCapacity(fields.count)
        for (name, value) in fields.sorted(by: { $0.key < $1.key }) {
            var written = name
            while reservedKeys.contains(written) || (written != name && fields[written] != nil) {
                written = collisionPrefix + written
            }
            out.append((written, value))
        }
        return out.sorted { $0.0 < $1.0 }
    }

    private static func writeValue(_ value: Logger.Metadata.Value, into w: inout JSONWriter) {
        switch value {
        case .string(let s): w.string(s)
        case .stringConvertible(let c):
            if let number = c as? any BinaryInteger, let exact = Int64(exactly: number) {
                w.integer(exact)
            } else if let flag = c as? Bool {
                w.bool(flag)
            } else {
                w.string(c.description)
            }
        case .array(let elements):
            w.beginArray()
            for element in elements { writeValue(element, into: &w) }
            w.endArray()
        case .dictionary(let members):
            w.beginObject()
            for (name, member) in members.sorted(by: { $0.key < $1.key }) {
                w.dynamicKey(name)
                writeValue(member, into: &w)
            }
            w.endObject()
        }
    }

    /// `milliseconds` since the Unix epoch as RFC 3339 in UTC with milliseconds: `2026-11-25T10:15:37.123Z`.
    public static func timestamp(milliseconds: Int64) -> String {
        let (seconds, millis) = milliseconds.quotientAndRemainder(dividingBy: 1_000)
        let (wholeSeconds, ms) = millis < 0 ? (seconds - 1, millis + 1_000) : (seconds, millis)
        var time = time_t(wholeSeconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return pad(parts.tm_year + 1900, 4) + "-" + pad(parts.tm_mon + 1, 2) + "-" + pad(parts.tm_mday, 2) + "T"
            + pad(parts.tm_hour, 2) + ":" + pad(parts.tm_min, 2) + ":" + pad(parts.tm_sec, 2) + "."
            + pad(Int32(ms), 3) + "Z"
    }
}
