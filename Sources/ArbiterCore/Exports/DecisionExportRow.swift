/// One row of a decision export: what was decided about an event, why, by which policy
/// versions, what reviewers did and what reached the ERP. JSONL writes the row object (canonical
/// JSON, one per line); CSV writes ``columns`` in that order, nested values as JSON text.
///
/// - `amount_minor`, `currency`, `amount`: the event's money; `amount` is the decimal string in
///   the currency's minor unit (`"125.00"` for 12500 USD, `"1250"` for 1250 JPY).
/// - `reasons`; `actions` (each with its id, type, `amount_minor`, `currency`, `amount`);
///   `policies` (each policy's name, version hash, outcome, reasons, duration, error).
/// - `review_id`, `review_state`, `review_decisions` (approvals and rejections: at, reviewer,
///   action, amount_minor, comment) — null/empty without a review.
/// - `erp_status` (`none` without deliveries; `delivered`, `pending`, `dead`, `cancelled`
///   when all agree; otherwise `mixed`), `erp_references`, `deliveries` (each action's status,
///   reference, attempts, time).
/// - `payload` (the event's payload, masked fields replaced), `audit_seq`, `audit_hash` (the
///   `decision.made` entry of the audit trail that records this decision).
public enum DecisionExportRow {
    public static let columns = [
        "decision_id", "decided_at", "event_id", "event_type", "source", "external_id", "account_id", "correlation_id",
        "submitted_by", "occurred_at", "received_at", "outcome", "queue", "amount_minor", "currency", "amount", "reasons",
        "actions", "policies", "review_id", "review_state", "review_decisions", "erp_status", "erp_references", "deliveries",
        "payload", "audit_seq", "audit_hash",
    ]

    /// The summary of the deliveries' statuses.
    public static func erpStatus(_ statuses: [String]) -> String {
        guard let first = statuses.first else { return "none" }
        return statuses.allSatisfy { $0 == first } ? first : "mixed"
    }

    /// Appends the row in `format`; missing columns are null.
    public static func write(_ row: [String: JSONValue], _ format: ExportRequest.Format, into out: inout [UInt8]) {
        switch format {
        case .jsonl:
            CanonicalJSON.write(.object(row), into: &out)
            out.append(0x0A)
        case .csv:
            CSV.writeRecord(columns.map { row[$0] ?? .null }, into: &out)
        }
    }
}
