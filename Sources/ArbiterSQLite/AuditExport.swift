import ArbiterCore
import Crypto
import Foundation
import GRDB

/// Writes audit entries to an export file, streamed from the database: memory stays flat
/// however many entries the range holds.
enum AuditExport {
    /// One entry as an export line: the canonical JSON of ``AuditEntry/json`` (keys in code-point
    /// order: actor, at, correlation_id, data, hash, kind, prev_hash, seq, subject) and a
    /// newline, written from the stored columns. `data` is stored as canonical JSON and goes in
    /// as it is — the export is a copy of what is stored; a row altered into something that is
    /// not JSON makes its line fail verify-export, as it should.
    static func line(seq: Int64, at: String, actor: String, kind: String, subject: String, correlationId: String?, data: String,
                     prevHash: String, hash: String, into out: inout [UInt8]) {
        out.append(contentsOf: #"{"actor":"#.utf8)
        CanonicalJSON.writeString(actor, into: &out)
        out.append(contentsOf: #","at":"#.utf8)
        CanonicalJSON.writeString(at, into: &out)
        out.append(contentsOf: #","correlation_id":"#.utf8)
        if let correlationId { CanonicalJSON.writeString(correlationId, into: &out) } else { out.append(contentsOf: "null".utf8) }
        out.append(contentsOf: #","data":"#.utf8)
        out.append(contentsOf: data.utf8)
        out.append(contentsOf: #","hash":"#.utf8)
        CanonicalJSON.writeString(hash, into: &out)
        out.append(contentsOf: #","kind":"#.utf8)
        CanonicalJSON.writeString(kind, into: &out)
        out.append(contentsOf: #","prev_hash":"#.utf8)
        CanonicalJSON.writeString(prevHash, into: &out)
        out.append(contentsOf: #","seq":"#.utf8)
        CanonicalJSON.writeInteger(seq, into: &out)
        out.append(contentsOf: #","subject":"#.utf8)
        CanonicalJSON.writeString(subject, into: &out)
        out.append(contentsOf: "}\n".utf8)
    }

    /// Entries with `at` in [from, to) (and the filters), in `seq` order, as JSON lines or CSV
    /// records (``ExportedAuditEntry``'s columns; `data` as its canonical JSON text, a null
    /// `correlation_id` as an empty cell). Returns the first and last entries written.
    static func write(_ db: Database, _ request: ExportRequest, to file: ExportFile) throws -> (first: Covered?, last: Covered?) {
        var conditions = ["at >= ?", "at < ?"]
        var arguments: StatementArguments = [Timestamp.format(request.from), Timestamp.format(request.to)]
        if let actor = request.filters.actor { conditions.append("actor = ?"); arguments += [actor] }
        if let kind = request.filters.kind { conditions.append("kind = ?"); arguments += [kind] }
        let rows = try Row.fetchCursor(db, sql: """
            SELECT seq, at, actor, kind, subject, correlation_id, data, prev_hash, hash FROM audit_log
            WHERE \(conditions.joined(separator: " AND ")) ORDER BY seq
            """, arguments: arguments)
        if request.format == .csv { CSV.writeRecord(ExportRequest.csvColumns(.audit).map(JSONValue.string), into: &file.buffer) }
        var first: Covered?, last: Covered?
        while let row = try rows.next() {
            let seq: Int64 = row[0]
            let hash: String = row[8]
            switch request.format {
            case .jsonl:
                line(seq: seq, at: row[1], actor: row[2], kind: row[3], subject: row[4], correlationId: row[5], data: row[6],
                     prevHash: row[7], hash: hash, into: &file.buffer)
            case .csv:
                let correlationId: String? = row[5]
                CSV.writeRecord([.int(seq), .string(row[1]), .string(row[2]), .string(row[3]), .string(row[4]),
                                 correlationId.map(JSONValue.string) ?? .null, .string(row[6]), .string(row[7]), .string(hash)],
                                into: &file.buffer)
            }
            if first == nil { first = Covered(seq: seq, hash: hash) }
            last = Covered(seq: seq, hash: hash)
            try file.rowWritten()
        }
        return (first, last)
    }
}
