import Foundation
import Testing
@testable import ArbiterServer

/// The workbench's line diff: changes in order (a removed line before its replacement), three
/// lines of context, gaps marked, identical sources give nothing.
@Suite struct ConsoleDiffTests {
    @Test func aChangedLineIsShownRemovedThenAddedWithContext() throws {
        let old = (1...20).map { "line \($0)" }.joined(separator: "\n")
        let new = old.replacingOccurrences(of: "line 10\n", with: "line ten\n") + "\nline 21"
        let lines = try #require(ConsoleDiff.unified(old: old, new: new))
        let marks = lines.map(\.mark).joined()
        #expect(marks == "   -+   …   +", "\(lines.map { $0.mark + $0.text })")
        #expect(lines[3].text == "line 10" && lines[3].oldNumber == 10 && lines[4].text == "line ten" && lines[4].newNumber == 10)
        #expect(lines.last?.text == "line 21" && lines.last?.newNumber == 21)
        #expect(ConsoleDiff.unified(old: old, new: old)?.isEmpty == true)
    }
}
