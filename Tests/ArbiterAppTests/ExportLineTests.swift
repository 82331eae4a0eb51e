@testable import ArbiterApp
import ArbiterCore
import Testing

@Suite(.timeLimit(.minutes(5))) struct ExportLineTests {
    /// Export lines are written from the stored columns without parsing them: they must be
    /// exactly the canonical JSON of the entry, escapes and nulls included.
    @Test func anExportLineIsTheEntrysCanonicalJSON() {
        for correlation in ["case \"42\" é\n\u{1}", nil] as [String?] {
            let data: JSONValue = ["note": "tab\t ✓", "amount_minor": 2500, "nested": ["a": [1, 2.5, nil, true]]]
            let entry = AuditEntry.make(seq: 1234, at: "2026-11-22T10:00:00.000001Z", actor: "key \\ x", kind: "decision.made",
                                        subject: "01a2", correlationId: correlation, data: data, prevHash: AuditEntry.genesisHash)
            var line: [UInt8] = []
            Exports.line(seq: entry.seq, at: entry.at, actor: entry.actor, kind: entry.kind, subject: entry.subject,
                             correlationId: entry.correlationId, data: CanonicalJSON.string(data), prevHash: entry.prevHash,
                             hash: entry.hash, into: &line)
            #expect(line == CanonicalJSON.encode(entry.json) + [0x0A])
        }
    }
}
