public import Logging

/// How `breakerd` writes its log on standard error (`--log-format`).
public enum LogFormat: String, Sendable, CaseIterable {
    /// swift-log's `StreamLogHandler`: `2026-11-25T10:15:37+0000 info breakerd: resource=db [BreakerServer] …`.
    case text
    /// One JSON object per line (`JSONLogHandler`): `ts`, `level`, `logger`, `msg` and the metadata fields.
    case json

    /// A handler for the logger `label` that writes events at `level` and above to standard error.
    public func makeHandler(label: String, level: Logger.Level) -> any LogHandler {
        switch self {
        case .text:
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        case .json:
            var handler = JSONLogHandler(label: label)
            handler.logLevel = level
            return handler
        }
    }
}
