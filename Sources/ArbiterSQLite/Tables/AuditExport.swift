import ArbiterApp
import ArbiterCore
import Foundation
import GRDB

/// The rows of exports, streamed from one read transaction: memory stays flat however many
/// rows the range holds.
enum AuditExport {
    /// Entries with `at` in [from, to) (and the filters), in `seq` order.
    static func entries(_ db: Database, _ request: ExportRequest, _ body: (ExportedAuditRow) throws -> Void) throws {
        var conditions = ["at >= ?", "at < ?"]
        var arguments: StatementArguments = [Timestamp.format(request.from), Timestamp.format(request.to)]
        if let actor = request.filters.actor { conditions.append("actor = ?"); arguments += [actor] }
        if let kind = request.filters.kind { conditions.append("kind = ?"); arguments += [kind] }
        let rows = try Row.fetchCursor(db, sql: """
            SELECT seq, at, actor, kind, subject, correlation_id, data, prev_hash, hash FROM audit_log
            WHERE \(conditions.joined(separator: " AND ")) ORDER BY seq
            """, arguments: arguments)
        while let row = try rows.next() {
            try body(ExportedAuditRow(seq: row[0], at: row[1], actor: row[2], kind: row[3], subject: row[4], correlationId: row[5],
                                      data: row[6], prevHash: row[7], hash: row[8]))
        }
    }
}
