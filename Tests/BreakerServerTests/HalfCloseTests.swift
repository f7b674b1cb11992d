import BreakerProtocol
import BreakerTestSupport
import Foundation
import Testing

/// A client that writes its requests and then shuts its write side (as `printf … | nc -q` does) gets every
/// reply, even when the server had to stop answering for a while because the replies piled up (found in review:
/// the kept requests were dropped at the close), and the server does not spin on the half-closed socket meanwhile.
@Suite struct HalfCloseTests {
    @Test func everyRequestSentBeforeAHalfCloseIsAnsweredThroughBackPressure() throws {
        let s = try ServerProcess(arguments: [])
        let admin = try s.connect()
        // 300 breakers: each list reply is about 100 KB, so 200 of them (20 MB) pass the 4 MiB back-pressure.
        var batch = ""
        for i in 0..<300 { batch += #"{"op":"acquire","resource":"half-\#(1_000 + i)"}"# + "\n" }
        try admin.send(raw: batch)
        for _ in 0..<300 { _ = try admin.readJSON() }

        let c = try s.connect(receiveBuffer: 4_096)
        var lists = ""
        for i in 0..<200 { lists += #"{"id":\#(i),"op":"list"}"# + "\n" }
        lists += #"{"id":200,"op":"ping"}"#  // the last line, without its newline
        try c.send(raw: lists)
        c.closeWrite()
        Thread.sleep(forTimeInterval: 0.5)  // let the server see the end of input while it is back-pressured
        let cpuBefore = try s.cpuSeconds()
        Thread.sleep(forTimeInterval: 1)
        let spent = try s.cpuSeconds() - cpuBefore
        #expect(spent < 0.5, "the server spun on the half-closed socket: \(spent) s of CPU in 1 s")
        for i in 0...200 {
            let reply = try c.readJSON(timeout: .seconds(30))
            #expect(reply["id"]?.intValue == i && reply.isOK, "reply \(i)")
            if reply["id"]?.intValue != i { break }
        }
        #expect(try c.waitForClose(), "closed after the last reply")
    }
}
