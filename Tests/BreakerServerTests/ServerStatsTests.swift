import BreakerProtocol
import Testing

@testable import BreakerServer

/// The per-loop operation counters behind `stats`.
@Suite struct ServerStatsTests {
    @Test func everyOperationHasItsOwnSlotInAllCasesOrder() {
        for (i, op) in OperationName.allCases.enumerated() {
            #expect(ServerStats.index(of: op) == i, "\(op)")
        }
    }

    @Test func totalsAddEveryLoopsCounts() {
        let stats = ServerStats(loops: 2, startedAtMs: 0)
        stats.count(.acquire, error: nil, loop: 0)
        stats.count(.acquire, error: nil, loop: 1)
        stats.count(.report, error: .notFound, loop: 1)
        stats.count(nil, error: .badJSON, loop: 0)
        let totals = stats.totals()
        #expect(totals.operations[ServerStats.index(of: .acquire)] == 2)
        #expect(totals.operations[ServerStats.index(of: .report)] == 1)
        #expect(totals.operations.reduce(0, +) == 3)
        #expect(totals.errors == 2)
        #expect(totals.errorsByCode[ServerStats.index(of: .notFound)] == 1)
        #expect(totals.errorsByCode[ServerStats.index(of: .badJSON)] == 1)
    }
}
