public import Logging

/// Client-supplied text made safe for a log line: control characters (and U+2028/U+2029, which some viewers
/// break lines on) become `\uXXXX` and a backslash becomes `\\`, so that one event is always one line and a
/// peer cannot forge log lines with a `client` name or a `reason`.
public enum LogText {
    /// `text` with every control character escaped as `\uXXXX`.
    public static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count + 8)
        for scalar in text.unicodeScalars {
            if scalar == "\\" {
                out += "\\\\"
            } else if needsEscape(scalar) {
                let hex = String(scalar.value, radix: 16, uppercase: true)
                out += "\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    private static func needsEscape(_ s: Unicode.Scalar) -> Bool {
        s.value < 0x20 || s.value == 0x7F || (0x80...0x9F).contains(s.value) || s.value == 0x2028
            || s.value == 0x2029 || s == "\\"
    }

    /// A metadata value holding `text` escaped.
    public static func value(_ text: String?) -> Logger.MetadataValue {
        .string(escaped(text ?? "-"))
    }
}
