import BreakerCore
import Logging

extension TransitionRecord {
    /// The fields of the `transition` log line: resource, from, to, cause, generation, and by and reason when
    /// present (operator text, escaped as `LogText` does). The generation is a number in JSON logs.
    func logMetadata(resource: String) -> Logger.Metadata {
        var fields: Logger.Metadata = [
            "resource": "\(resource)", "from": "\(from)", "to": "\(to)", "cause": "\(cause)",
            "generation": .stringConvertible(generation),
        ]
        if by != nil { fields["by"] = LogText.value(by) }
        if reason != nil { fields["reason"] = LogText.value(reason) }
        return fields
    }
}
