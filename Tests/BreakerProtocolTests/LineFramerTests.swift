import BreakerProtocol
import Testing

@Suite struct LineFramerTests {
    /// Feeds `chunks` and returns the lines seen and the outcomes.
    func run(
        _ chunks: [String],
        limit: Int = 16,
        stopAfter: Int? = nil
    ) -> (lines: [String], outcomes: [LineFramer.Outcome], framer: LineFramer) {
        var framer = LineFramer(maximumLineBytes: limit)
        var lines: [String] = []
        var outcomes: [LineFramer.Outcome] = []
        for chunk in chunks {
            let bytes = Array(chunk.utf8)
            outcomes.append(
                bytes.withUnsafeBytes { buffer in
                    framer.feed(buffer) { line in
                        lines.append(String(decoding: line, as: UTF8.self))
                        return stopAfter.map { lines.count < $0 } ?? true
                    }
                }
            )
        }
        return (lines, outcomes, framer)
    }

    @Test func linesAcrossChunksCRLFAndEmptyLines() {
        let r = run(["ab", "c\nd", "e\r\n\n\r\nf", "g\n"])
        #expect(r.lines == ["abc", "de", "fg"])
        #expect(r.outcomes.allSatisfy { $0 == .consumed })
        #expect(r.framer.partial.isEmpty)
    }

    @Test func theLimitOnBothSidesOfTheEdge() {
        let exact = String(repeating: "x", count: 16)
        #expect(run([exact + "\n"]).lines == [exact])
        #expect(run([exact + "\r\n"]).lines == [exact], "the line ending does not count")
        #expect(run([exact + "x\n"]).outcomes == [.lineTooLong])
        // A partial line is refused as soon as it is over the limit, before it ends.
        #expect(run([exact]).outcomes == [.consumed])
        #expect(run([exact + "\r"]).outcomes == [.consumed], "maybe the \\r of a \\r\\n")
        #expect(run([exact + "xx"]).outcomes == [.lineTooLong])
        #expect(run([exact, "x"]).outcomes == [.consumed, .lineTooLong])
    }

    @Test func stopLeavesTheRestUnread() {
        let r = run(["one\ntwo\nthree\n"], stopAfter: 1)
        #expect(r.lines == ["one"])
        #expect(r.outcomes == [.stopped(resumeAt: 4)])
    }

    @Test func finishAnswersALastLineWithoutNewline() {
        var r = run(["a\nlast"])
        var tail: [String] = []
        #expect(
            r.framer.finish {
                tail.append(String(decoding: $0, as: UTF8.self))
                return true
            } == .consumed
        )
        #expect(tail == ["last"])
    }
}
