/// A request target split into its decoded path segments and query parameters.
///
/// The raw path is split on `/` before decoding, so `%2F` stays inside its segment. A segment that is `.` or `..`
/// (raw or decoded), a `%` not followed by two hex digits, a decoded NUL and decoded bytes that are not UTF-8 are
/// refused: breakerd never resolves dot segments, it refuses them.
struct HTTPTarget: Sendable, Equatable {
    /// Why a target was refused, as a one-line reason that says what to send instead (a 400).
    struct Malformed: Error, Equatable {
        /// The reason, for the response.
        var reason: String
    }

    /// The decoded path: `/` followed by the decoded segments joined with `/`.
    var path: String
    /// The decoded segments: `/api/breakers/a%2Fb` is `["api", "breakers", "a/b"]`, `/` is `[]`.
    var segments: [String]
    /// The decoded query parameters (`+` is a space); the last of a repeated name wins.
    var query: [String: String]

    /// Parses an origin-form target (`/path?query`), or an absolute-form one (`http://host/path?query`) of which
    /// the authority is dropped.
    init(parsing target: ArraySlice<UInt8>) throws(Malformed) {
        var target = target
        if target.first != UInt8(ascii: "/") {
            guard let rest = Self.droppingScheme(target) else {
                throw Malformed(reason: "request target must be a path starting with '/'")
            }
            // The authority ends at the path or the query; the path is "/" when absent.
            if let pathStart = rest.firstIndex(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") }) {
                target = rest[pathStart...]
                if target.first == UInt8(ascii: "?") {
                    target = [UInt8(ascii: "/")] + target
                }
            } else {
                target = [UInt8(ascii: "/")]
            }
        }
        if target.contains(UInt8(ascii: "#")) {
            throw Malformed(reason: "request target has a fragment ('#'); leave it out")
        }
        let questionMark = target.firstIndex(of: UInt8(ascii: "?"))
        let rawPath = target[..<(questionMark ?? target.endIndex)]
        var segments: [String] = []
        if rawPath.count > 1 {
            for raw in rawPath.dropFirst().split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
                let segment = try Self.decode(raw, plusIsSpace: false, what: "path")
                if segment == "." || segment == ".." {
                    throw Malformed(reason: "path has a '.' or '..' segment; send the path without them")
                }
                segments.append(segment)
            }
        }
        var query: [String: String] = [:]
        if let questionMark {
            let rawQuery = target[(questionMark + 1)...]
            for pair in rawQuery.split(separator: UInt8(ascii: "&")) {
                let equals = pair.firstIndex(of: UInt8(ascii: "="))
                let name = try Self.decode(pair[..<(equals ?? pair.endIndex)], plusIsSpace: true, what: "query")
                let value =
                    if let equals {
                        try Self.decode(pair[(equals + 1)...], plusIsSpace: true, what: "query")
                    } else {
                        ""
                    }
                query[name] = value
            }
        }
        self.path = "/" + segments.joined(separator: "/")
        self.segments = segments
        self.query = query
    }

    /// The target after `http://host` or `https://host`'s scheme (case-insensitive), or nil for another form.
    private static func droppingScheme(_ target: ArraySlice<UInt8>) -> ArraySlice<UInt8>? {
        for scheme in ["http://", "https://"] {
            let prefix = Array(scheme.utf8)
            if target.count >= prefix.count && zip(target, prefix).allSatisfy({ lowercased($0) == $1 }) {
                return target.dropFirst(prefix.count)
            }
        }
        return nil
    }

    /// Percent-decodes `text` (and `+` to a space when `plusIsSpace`) into UTF-8 text.
    private static func decode(
        _ text: ArraySlice<UInt8>,
        plusIsSpace: Bool,
        what: String
    ) throws(Malformed) -> String {
        if !text.contains(UInt8(ascii: "%")) && !(plusIsSpace && text.contains(UInt8(ascii: "+"))) {
            // Already validated as visible ASCII by the request line's checks: no NUL, valid UTF-8.
            return String(decoding: text, as: UTF8.self)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.count)
        var i = text.startIndex
        while i < text.endIndex {
            let byte = text[i]
            if byte == UInt8(ascii: "%") {
                guard text.endIndex - i >= 3,
                    let high = hexValue(text[i + 1]),
                    let low = hexValue(text[i + 2])
                else {
                    throw Malformed(reason: "invalid percent-encoding in the \(what); encode '%' as %25")
                }
                let decoded = high << 4 | low
                if decoded == 0 {
                    throw Malformed(reason: "the \(what) decodes to a NUL byte (%00); leave it out")
                }
                bytes.append(decoded)
                i += 3
            } else {
                bytes.append(plusIsSpace && byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
                i += 1
            }
        }
        guard let decoded = String(validating: bytes, as: UTF8.self) else {
            throw Malformed(reason: "the \(what) decodes to bytes that are not UTF-8; percent-encode UTF-8")
        }
        return decoded
    }

    private static func lowercased(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte | 0x20 : byte
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
