import BreakerCore
import Testing

@Suite struct FractionTests {
    @Test func parsesAndKeepsTheDenominator() throws {
        let f = try #require(Fraction(parsing: "2/4"))
        #expect(f.numerator == 2 && f.denominator == 4)
        #expect(f.description == "2/4")
        #expect(f != Fraction(1, 2), "2/4 is a different policy from 1/2: not reduced")
        #expect(Fraction(parsing: " 3 / 10 ") == Fraction(3, 10))
    }

    @Test(arguments: ["", "2", "2/", "/5", "a/b", "1/2/3", "1.5/3", "2:5"])
    func rejectsMalformedText(_ text: String) {
        #expect(Fraction(parsing: text) == nil)
    }

    @Test func comparesExactlyAtTheEdge() {
        let threshold = Fraction(2, 5)
        #expect(threshold.isReached(by: 2, of: 5))
        #expect(!threshold.isReached(by: 1, of: 5))
        #expect(threshold.isReached(by: 4, of: 10), "equal ratios reach the threshold")
        #expect(!threshold.isReached(by: 3, of: 8), "3/8 = 0.375 < 0.4")
        #expect(Fraction(1, 3).isReached(by: 1, of: 3))
        #expect(!Fraction(1, 3).isReached(by: 33, of: 100))
        #expect(Fraction(Int.max, Int.max).isReached(by: 1, of: 1), "no overflow on huge values")
    }
}
