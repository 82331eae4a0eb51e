import ArbiterCore
import Foundation
import Testing

@Suite(.timeLimit(.minutes(5))) struct IdentifierTests {
    /// Many ids in the same millisecond: each greater than the one before (with random bits in
    /// the 12 bits after the version, about one in two compared lower).
    @Test func idsMadeInTheSameMillisecondIncrease() {
        let now = Date()
        var previous = Identifier.make(now: now)
        for _ in 0..<20_000 {
            let id = Identifier.make(now: now)
            #expect(id > previous, "\(id) after \(previous)")
            if id <= previous { return }
            previous = id
        }
    }

    /// The clock steps back: ids keep increasing.
    @Test func idsIncreaseWhenTheClockStepsBack() {
        let now = Date()
        let first = Identifier.make(now: now)
        let second = Identifier.make(now: now.addingTimeInterval(-2))
        let third = Identifier.make(now: now.addingTimeInterval(-1))
        #expect(first < second && second < third, "\(first) \(second) \(third)")
        // Still UUIDv7: version 7, RFC 9562 variant, and the time part of the latest clock reading.
        let hex = Array(third.replacingOccurrences(of: "-", with: ""))
        #expect(hex[12] == "7")
        #expect(["8", "9", "a", "b"].contains(hex[16]))
        #expect(third.prefix(8) == first.prefix(8))
    }

    @Test func idsFromManyThreadsAreDistinct() async {
        let ids = await withTaskGroup(of: [String].self) { group in
            for _ in 0..<4 { group.addTask { (0..<5_000).map { _ in Identifier.make() } } }
            return await group.reduce(into: [String]()) { $0 += $1 }
        }
        #expect(Set(ids).count == ids.count)
    }
}
