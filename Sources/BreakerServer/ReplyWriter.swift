import BreakerCore
import BreakerProtocol

/// Writes the server's success replies from the registry's values.
enum ReplyWriter {
    static func acquire(_ r: BreakerRegistry.Acquired, id: RequestID?, into out: inout JSONWriter) {
        Reply.beginSuccess(id: id, into: &out)
        out.member("allowed", r.decision.allowed)
        out.member("state", r.state.rawValue)
        out.member("generation", r.generation)
        if let permit = r.decision.permit {
            out.member("permit", permit.description)
        }
        if let wait = r.decision.retryAfter {
            out.member("retry_after_ms", max(wait.millisecondsRoundedUp, 0))
        }
        Reply.end(&out)
    }

    static func report(_ r: BreakerRegistry.Reported, id: RequestID?, into out: inout JSONWriter) {
        Reply.beginSuccess(id: id, into: &out)
        out.member("state", r.state.rawValue)
        out.member("generation", r.generation)
        out.member("counted", r.result.counted)
        if let reason = r.result.ignoredBecause {
            out.member("reason", reason.rawValue)
        }
        Reply.end(&out)
    }

    static func breaker(_ info: BreakerInfo, id: RequestID?, into out: inout JSONWriter) {
        Reply.beginSuccess(id: id, into: &out)
        out.key("breaker")
        info.write(to: &out)
        Reply.end(&out)
    }
}
