import Foundation

/// Lines of protocol/vectors, as the server writes them: the vectors are written with a space after each `:` and
/// `,`; `compact` takes those out (outside strings) and fills in the placeholders, so a test can compare bytes.
enum VectorLines {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("protocol/vectors")

    /// The `expect` object of line `number` (1-based) of `file`, compacted, with `"$int"` and `"$string"` replaced.
    static func expected(_ file: String, line number: Int, int: Int64 = 0, string: String = "") throws -> String {
        let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
        let line = text.split(separator: "\n", omittingEmptySubsequences: false)[number - 1]
        let prefix = #"{"expect": "#
        guard line.hasPrefix(prefix), line.hasSuffix("}") else {
            throw VectorLineError(description: "\(file):\(number) is not an expect line: \(line)")
        }
        let body = compact(String(line.dropFirst(prefix.count).dropLast()))
        return body.replacingOccurrences(of: #""$int""#, with: "\(int)")
            .replacingOccurrences(of: #""$string""#, with: "\"\(string)\"") + "\n"
    }

    /// `text` without the whitespace outside strings.
    static func compact(_ text: String) -> String {
        var out = ""
        var inString = false
        var escaped = false
        for c in text {
            if inString {
                out.append(c)
                if escaped {
                    escaped = false
                } else if c == "\\" {
                    escaped = true
                } else if c == "\"" {
                    inString = false
                }
            } else if c == "\"" {
                inString = true
                out.append(c)
            } else if c != " " {
                out.append(c)
            }
        }
        return out
    }
}

struct VectorLineError: Error, CustomStringConvertible {
    let description: String
}
