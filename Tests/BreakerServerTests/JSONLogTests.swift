import BreakerProtocol
import BreakerServer
import BreakerTestSupport
import Foundation
import Logging
import Testing

/// `--log-format json`: `JSONLogHandler`'s lines, and the real breakerd writing them (transitions included).
@Suite struct JSONLogTests {
    /// 2026-11-25T10:15:37.123Z, in milliseconds since the Unix epoch.
    static let stamp: Int64 = 1_795_601_737_123

    /// Logs through a `JSONLogHandler` writing to a temporary file; returns the file's lines after `body`.
    static func lines(
        configure: (inout JSONLogHandler) -> Void = { _ in },
        _ body: (Logger) throws -> Void
    ) throws -> [String] {
        let path = NSTemporaryDirectory() + "json-log-\(UUID().uuidString).log"
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        try #require(fd >= 0)
        defer {
            close(fd)
            try? FileManager.default.removeItem(atPath: path)
        }
        var handler = JSONLogHandler(label: "test", fileDescriptor: fd, metadataProvider: nil) { stamp }
        handler.logLevel = .trace
        configure(&handler)
        let logger = Logger(label: "test") { _ in handler }
        try body(logger)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.isEmpty || text.hasSuffix("\n"), "every line ends with a newline")
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
    }

    /// Parses `line` with the protocol's strict parser (which refuses a repeated member).
    static func object(_ line: String) throws -> [String: JSONValue] {
        guard case .object(let members) = try JSONParser.parse(Array(line.utf8)) else {
            throw LineClient.Failure(description: "not a JSON object: \(line)")
        }
        return members
    }

    @Test func writesTsLevelLoggerMsgAndTheFieldsAtTheTopLevel() throws {
        let lines = try Self.lines {
            $0.info(
                "transition",
                metadata: [
                    "resource": "db", "from": "closed", "to": "open", "generation": .stringConvertible(UInt64(7)),
                ]
            )
        }
        try #require(lines.count == 1)
        #expect(
            lines[0]
                == #"{"ts":"2026-11-25T10:15:37.123Z","level":"info","logger":"test","msg":"transition","#
                + #""from":"closed","generation":7,"resource":"db","to":"open"}"#
        )
        let o = try Self.object(lines[0])
        #expect(o["ts"] == .string("2026-11-25T10:15:37.123Z") && o["generation"] == .integer(7))
    }

    @Test func everyLevelIsNamed() throws {
        let lines = try Self.lines { logger in
            for level in Logger.Level.allCases { logger.log(level: level, "x") }
        }
        let levels = try lines.map { try Self.object($0)["level"] }
        #expect(levels == Logger.Level.allCases.map { .string($0.rawValue) })
    }

    @Test func timestampsAreRFC3339InUTCWithMilliseconds() {
        #expect(JSONLogHandler.timestamp(milliseconds: 0) == "1970-01-01T00:00:00.000Z")
        #expect(JSONLogHandler.timestamp(milliseconds: 5) == "1970-01-01T00:00:00.005Z")
        #expect(JSONLogHandler.timestamp(milliseconds: Self.stamp) == "2026-11-25T10:15:37.123Z")
        #expect(JSONLogHandler.timestamp(milliseconds: 951_782_400_999) == "2000-02-29T00:00:00.999Z")
        #expect(JSONLogHandler.timestamp(milliseconds: -1) == "1969-12-31T23:59:59.999Z")
    }

    @Test func escapesQuotesBackslashesAndControlCharactersNulIncluded() throws {
        let nasty = "a \"quoted\" \\ back\nslash\r\t\u{0}\u{1}\u{1F} é ✓ \u{2028} 🙂"
        let lines = try Self.lines { $0.warning("\(nasty)", metadata: ["weird \"key\"\n": "\(nasty)"]) }
        try #require(lines.count == 1, "one event, one line, whatever the text")
        #expect(!lines[0].utf8.contains(where: { $0 < 0x20 }), "no raw control character in the line")
        let o = try Self.object(lines[0])
        #expect(o["msg"] == .string(nasty))
        #expect(o["weird \"key\"\n"] == .string(nasty))
    }

    @Test func aFieldNamedLikeAReservedKeyIsPrefixedNotOverwriting() throws {
        let lines = try Self.lines {
            $0.error(
                "the message",
                metadata: [
                    "msg": "field", "ts": "t", "level": "l", "logger": "g", "field_msg": "taken", "other": "o",
                ]
            )
        }
        let o = try Self.object(try #require(lines.first))
        #expect(o["msg"] == .string("the message") && o["level"] == .string("error") && o["logger"] == .string("test"))
        #expect(o["ts"] == .string("2026-11-25T10:15:37.123Z"))
        #expect(o["field_ts"] == .string("t") && o["field_level"] == .string("l") && o["field_logger"] == .string("g"))
        #expect(o["field_msg"] == .string("taken"), "a field already named field_msg keeps its name")
        #expect(o["field_field_msg"] == .string("field"), "so the colliding msg is prefixed once more")
        #expect(o["other"] == .string("o") && o.count == 10)
    }

    @Test func nestedMetadataIsNestedJSON() throws {
        let lines = try Self.lines {
            $0.info(
                "nested",
                metadata: [
                    "peer": ["name": "a", "ports": ["1", "2"], "tls": .stringConvertible(true)],
                    "list": [["k": "v"], "x"],
                ]
            )
        }
        let o = try Self.object(try #require(lines.first))
        #expect(
            o["peer"]
                == .object(["name": .string("a"), "ports": .array([.string("1"), .string("2")]), "tls": .bool(true)])
        )
        #expect(o["list"] == .array([.object(["k": .string("v")]), .string("x")]))
    }

    @Test func handlerMetadataAndProviderMetadataAreMergedTheEventWinning() throws {
        let provider = Logger.MetadataProvider { ["request": "r1", "shared": "provider"] }
        let configure: (inout JSONLogHandler) -> Void = {
            $0.metadata = ["service": "breakerd", "shared": "handler"]
            $0.metadataProvider = provider
        }
        let lines = try Self.lines(configure: configure) { $0.info("merged", metadata: ["shared": "event"]) }
        let o = try Self.object(try #require(lines.first))
        #expect(o["service"] == .string("breakerd") && o["request"] == .string("r1") && o["shared"] == .string("event"))
    }

    @Test func linesFromManyThreadsNeverInterleave() throws {
        let threads = 8
        let perThread = 200
        let lines = try Self.lines { logger in
            DispatchQueue.concurrentPerform(iterations: threads) { t in
                for i in 0..<perThread {
                    logger.info(
                        "line \(i)",
                        metadata: ["thread": "\(t)", "padding": "\(String(repeating: "x", count: 300))"]
                    )
                }
            }
        }
        #expect(lines.count == threads * perThread)
        var seen = Set<String>()
        for line in lines {
            let o = try Self.object(line)
            if case .string(let t) = o["thread"], case .string(let m) = o["msg"] { seen.insert("\(t)/\(m)") }
        }
        #expect(seen.count == threads * perThread)
    }

    @Test func breakerdWritesJSONLinesAndLogsEveryTransition() throws {
        let server = try ServerProcess(arguments: [
            "--log-format", "json", "--default-policy", #"{"failure_threshold":"2/2","cooldown_ms":60000}"#,
        ])
        let client = try server.connect()
        // Acquires and reports that change nothing log nothing.
        for _ in 0..<20 {
            try client.request(#"{"op":"acquire","resource":"db"}"#)
            try client.request(#"{"op":"report","resource":"db","outcome":"success"}"#)
        }
        try client.request(#"{"op":"report","resource":"db","outcome":"failure"}"#)
        let tripped = try client.request(#"{"op":"report","resource":"db","outcome":"failure"}"#)
        #expect(tripped["state"] == .string("open"))
        for _ in 0..<5 { try client.request(#"{"op":"acquire","resource":"db"}"#) }  // rejected: no transition
        try client.request(#"{"op":"force","resource":"db","state":"closed","reason":"it's \"fine\"\nreally"}"#)
        server.signal(SIGTERM)
        #expect(server.waitForExit() == 0)

        let lines = server.stderr.split(separator: "\n").map(String.init)
        #expect(lines.count >= 5, "\(server.stderr)")
        var transitions: [[String: JSONValue]] = []
        for line in lines {
            let o = try Self.object(line)
            for key in ["ts", "level", "msg", "logger"] {
                if case .string? = o[key] { continue }
                Issue.record("no string \(key) in \(line)")
            }
            if o["msg"] == .string("transition") { transitions.append(o) }
        }
        #expect(transitions.count == 2, "the trip and the force, nothing per acquire or report: \(transitions)")
        let trip = try #require(transitions.first)
        #expect(trip["level"] == .string("info") && trip["logger"] == .string("breakerd"))
        #expect(trip["resource"] == .string("db") && trip["from"] == .string("closed") && trip["to"] == .string("open"))
        #expect(trip["cause"] == .string("failure_threshold") && trip["generation"] == .integer(1))
        #expect(trip["by"] == nil && trip["reason"] == nil, "by and reason only for operator actions")
        let force = try #require(transitions.last)
        #expect(force["from"] == .string("open") && force["to"] == .string("forced_closed"))
        #expect(force["cause"] == .string("forced") && force["generation"] == .integer(2))
        #expect(force["by"] == .string("admin"))
        #expect(force["reason"] == .string(#"it's "fine"\u000Areally"#), "operator text escaped as LogText does")
    }

    @Test func textStaysTheDefaultAndAnUnknownFormatIsAUsageError() throws {
        let server = try ServerProcess(arguments: ["--default-policy", #"{"failure_threshold":"1/1"}"#])
        let client = try server.connect()
        try client.request(#"{"op":"report","resource":"t","outcome":"failure"}"#)
        server.signal(SIGTERM)
        #expect(server.waitForExit() == 0)
        let transition = try #require(server.stderr.split(separator: "\n").first { $0.contains("transition") })
        #expect(!transition.hasPrefix("{") && transition.contains(" info breakerd: "), "\(transition)")
        #expect(
            transition.contains("from=closed") && transition.contains("to=open") && transition.contains("resource=t")
        )

        let r = try runToCompletion(ServerProcess.binaryPath, ["--log-format", "yaml"])
        #expect(r.status != 0 && r.stderr.contains("--log-format"), "\(r.stderr)")
    }
}
