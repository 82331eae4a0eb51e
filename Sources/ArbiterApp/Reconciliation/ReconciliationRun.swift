import ArbiterCore
import Foundation

/// A finished reconciliation: what it compared, what it found, and the digests its signed
/// manifest carries. Its files are `reconciliations/<id>/` (``Reconciliations``).
public struct ReconciliationRun: Sendable, Hashable {
    public var id: String
    public var mapping: String
    /// Arbiter's side: money actions approved in [from, to) (RFC 3339, as stored).
    public var from: String
    public var to: String
    public var staleBefore: String
    /// `upload` (an ERP export given to the run) or `pull` (read from a target's ERP).
    public var source: String
    /// The target pulled from.
    public var target: String?
    public var requestedBy: String
    public var createdAt: String
    /// Rows per class (``Reconciler/Class``).
    public var counts: [String: Int]
    public var exceptions: Int
    public var exceptionsOpened: Int
    public var exceptionsClosed: Int
    /// SHA-256 (hex) of `reconciliation.json`.
    public var reportSHA256: String
    public var manifest: JSONValue

    public init(id: String, mapping: String, from: String, to: String, staleBefore: String, source: String, target: String?,
                requestedBy: String, createdAt: String, counts: [String: Int], exceptions: Int, exceptionsOpened: Int,
                exceptionsClosed: Int, reportSHA256: String, manifest: JSONValue) {
        self.id = id
        self.mapping = mapping
        self.from = from
        self.to = to
        self.staleBefore = staleBefore
        self.source = source
        self.target = target
        self.requestedBy = requestedBy
        self.createdAt = createdAt
        self.counts = counts
        self.exceptions = exceptions
        self.exceptionsOpened = exceptionsOpened
        self.exceptionsClosed = exceptionsClosed
        self.reportSHA256 = reportSHA256
        self.manifest = manifest
    }

    public var json: JSONValue {
        .object(["id": .string(id), "mapping": .string(mapping), "from": .string(from), "to": .string(to),
                 "stale_before": .string(staleBefore), "source": .string(source), "target": target.map(JSONValue.string) ?? .null,
                 "requested_by": .string(requestedBy), "created_at": .string(createdAt),
                 "counts": .object(counts.mapValues { .int(Int64($0)) }), "exceptions": .int(Int64(exceptions)),
                 "exceptions_opened": .int(Int64(exceptionsOpened)), "exceptions_closed": .int(Int64(exceptionsClosed)),
                 "report_sha256": .string(reportSHA256), "manifest": manifest])
    }
}
