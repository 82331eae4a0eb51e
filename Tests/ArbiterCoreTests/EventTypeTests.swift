import ArbiterCore
import Testing

@Suite(.timeLimit(.minutes(5))) struct EventTypeTests {
    /// Policy sets look up the policies of a known type by its ordinal.
    @Test func ordinalsArePositionsInAllCases() {
        for (position, type) in EventType.allCases.enumerated() { #expect(type.ordinal == position, "\(type)") }
    }
}
