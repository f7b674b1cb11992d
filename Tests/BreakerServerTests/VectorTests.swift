import BreakerProtocol
import BreakerTestSupport
import Foundation
import Testing

/// Replays protocol/vectors/*.jsonl against the real `breakerd`, one fresh server and connection per file.
///
/// Line kinds: `{"send": {…}}` (written compactly), `{"send_raw": "…"}`, `{"expect": {…}}` (the next line
/// must match: same keys, same values; `"$any"`, `"$int"` and `"$string"` stand for values that vary),
/// `{"expect_closed": true}`, `{"comment": "…"}`.
@Suite struct VectorTests {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("protocol/vectors")

    static var files: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
            .filter { $0.hasSuffix(".jsonl") }.sorted()
    }

    @Test func thereAreVectors() {
        #expect(Self.files.count >= 6)
    }

    @Test(arguments: files)
    func replay(file: String) throws {
        let text = try String(contentsOf: Self.directory.appendingPathComponent(file), encoding: .utf8)
        let server = try ServerProcess(arguments: [])
        let client = try server.connect()
        for (number, line) in text.split(separator: "\n").enumerated()
        where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            let step = try JSONParser.parse(Array(line.utf8))
            let place = "\(file):\(number + 1)"
            if let send = step["send"] {
                try client.send(send.jsonText)
            } else if let raw = step["send_raw"]?.stringValue {
                try client.send(raw)
            } else if let expected = step["expect"] {
                let actual = try client.readJSON()
                var problems: [String] = []
                Self.match(expected, actual, path: "$", problems: &problems)
                #expect(problems.isEmpty, "\(place): \(problems.joined(separator: "; "))\n  got \(actual.jsonText)")
            } else if step["expect_closed"] == .bool(true) {
                #expect(try client.readLine() == nil, "\(place): expected the server to close the connection")
            } else if step["comment"] == nil {
                Issue.record("\(place): unknown vector line \(line)")
            }
        }
    }

    static func match(_ expected: JSONValue, _ actual: JSONValue, path: String, problems: inout [String]) {
        switch expected {
        case .string("$any"): return
        case .string("$int"):
            if actual.intValue == nil { problems.append("\(path): expected an integer") }
        case .string("$string"):
            if actual.stringValue == nil { problems.append("\(path): expected a string") }
        case .object(let e):
            guard let a = actual.objectValue else {
                problems.append("\(path): expected an object")
                return
            }
            for key in Set(e.keys).union(a.keys).sorted() {
                switch (e[key], a[key]) {
                case (let ev?, let av?): match(ev, av, path: "\(path).\(key)", problems: &problems)
                case (_?, nil): problems.append("\(path).\(key): missing")
                case (nil, _?): problems.append("\(path).\(key): not expected")
                case (nil, nil): break
                }
            }
        case .array(let e):
            guard let a = actual.arrayValue, a.count == e.count else {
                problems.append("\(path): expected an array of \(e.count)")
                return
            }
            for (i, pair) in zip(e, a).enumerated() {
                match(pair.0, pair.1, path: "\(path)[\(i)]", problems: &problems)
            }
        default:
            if expected != actual { problems.append("\(path): expected \(expected.jsonText), got \(actual.jsonText)") }
        }
    }
}
