#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Token files, as `breakerd --client-token-file/--admin-token-file`, `breakerctl --token-file` and
/// `BreakerClient` read them: one token per line; `\n` or `\r\n` line endings; spaces and tabs around a token
/// are dropped; blank lines and lines starting with `#` are skipped. Several tokens may be valid at once, which
/// is how tokens are rotated (add the new one, move clients, remove the old one). The one reader for all three.
public enum TokenFile {
    /// The largest token file read, in bytes.
    public static let maximumBytes = 1_048_576
    /// The shortest token accepted, in bytes: shorter ones are too easy to guess.
    public static let minimumTokenBytes = 16

    /// Why a token file cannot be used. The message names the file and says what to do.
    public struct Error: Swift.Error, Sendable, Hashable, CustomStringConvertible {
        /// The file's path.
        public let path: String
        /// What is wrong with it.
        public let problem: String

        public init(path: String, problem: String) {
            self.path = path
            self.problem = problem
        }

        public var description: String { "token file \(path): \(problem)" }
    }

    /// Every token in the file at `path`, in file order.
    ///
    /// - Throws: `TokenFile.Error` when the file cannot be read, is larger than `maximumBytes`, holds no
    ///   token, or holds a token shorter than `minimumTokenBytes`.
    public static func load(_ path: String) throws(TokenFile.Error) -> [String] {
        var info = stat()
        if stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR {
            throw Error(path: path, problem: "is a directory; give the path of a file with one token per line")
        }
        guard let file = fopen(path, "r") else {
            throw Error(path: path, problem: "cannot be read: \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4_096)
        while true {
            let n = fread(&chunk, 1, chunk.count, file)
            if n <= 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
            if bytes.count > maximumBytes {
                throw Error(
                    path: path,
                    problem: "is larger than \(maximumBytes / 1_048_576) MiB; put one token per line"
                )
            }
        }
        return try parse(bytes, path: path)
    }

    /// True when the file at `path` may be read by its group or by others (tokens are secrets: `chmod 600`).
    public static func isReadableByOthers(_ path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0 else { return false }
        return info.st_mode & (S_IRGRP | S_IROTH) != 0
    }

    /// The first token in the file at `path` (what a client sends).
    public static func first(_ path: String) throws(TokenFile.Error) -> String {
        try load(path)[0]
    }

    /// The tokens in a token file's contents; `path` names it in errors.
    public static func parse(_ bytes: [UInt8], path: String) throws(TokenFile.Error) -> [String] {
        var tokens: [String] = []
        for rawLine in bytes.split(separator: 0x0A, omittingEmptySubsequences: true) {
            var line = rawLine[...]
            while let f = line.first, f == 0x20 || f == 0x09 || f == 0x0D { line.removeFirst() }
            while let l = line.last, l == 0x20 || l == 0x09 || l == 0x0D { line.removeLast() }
            guard !line.isEmpty, line.first != UInt8(ascii: "#") else { continue }
            tokens.append(String(decoding: line, as: UTF8.self))
        }
        guard !tokens.isEmpty else { throw Error(path: path, problem: "holds no token (one token per line)") }
        if let short = tokens.first(where: { $0.utf8.count < minimumTokenBytes }) {
            throw Error(
                path: path,
                problem: "a token of \(short.utf8.count) bytes is too short to be secret; use at least "
                    + "\(minimumTokenBytes) (e.g. openssl rand -hex 32)"
            )
        }
        return tokens
    }
}
