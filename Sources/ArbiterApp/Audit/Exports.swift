import ArbiterCore
import Crypto
import Foundation

/// Exports for auditors: decisions or audit entries over a time range, as JSON lines or CSV,
/// with a signed manifest (``ExportManifest``). The server (`POST /v1/exports`) and
/// `arbiter audit export --db` both come here; the rows stream from the store (``AuditStore``).
public enum Exports {
    /// Writes the export into the new directory `final` — the file (`audit.jsonl`,
    /// `decisions.csv`, …) and the signed `manifest.json`, both 0600 — and returns the manifest.
    /// Rows are streamed from one consistent snapshot. The directory
    /// appears only once both files are written and synced; until then they are in
    /// `<final>.partial`, removed if the export fails.
    ///
    /// The manifest: `format_version`, `id`, `kind`, `format`, `from`, `to`, `filters`, `rows`,
    /// `file`, `file_sha256`, `first_seq`/`first_hash` and `last_seq`/`last_hash` (the audit
    /// entries covered: the first and last exported for an audit export; the lowest and highest
    /// `decision.made` entries of the exported decisions for a decision export), `chain`
    /// (`contiguous`: every audit entry of the range, each linked to the one before;
    /// `filtered`: some entries left out by the filters; `none` for decisions), `masked_fields`
    /// and `masking_key_id` (decision exports), `exported_at`, `exported_by`, `key_id`,
    /// `checkpoint` (the newest ``AuditCheckpoint``, or null), `signature`.
    public static func export(_ request: ExportRequest, from store: any AuditStore, id: String, to final: URL, by actor: String,
                              key: ExportSigningKey, masking: ExportMasking, at now: Date = Date(),
                              progress: (@Sendable (Int) -> Void)? = nil) async throws -> JSONValue {
        guard !FileManager.default.fileExists(atPath: final.path) else {
            throw CocoaError(.fileWriteFileExists, userInfo: [NSFilePathErrorKey: final.path])
        }
        let partial = partialDirectory(final)
        try FileManager.default.createDirectory(at: partial, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        do {
            let file = try ExportFile(url: partial.appendingPathComponent(request.fileName), progress: progress)
            var fields: [String: JSONValue] = [
                "format_version": 1, "id": .string(id), "kind": .string(request.kind.rawValue), "format": .string(request.format.rawValue),
                "from": .string(Timestamp.format(request.from)), "to": .string(Timestamp.format(request.to)),
                "filters": .object(request.filters.json), "file": .string(request.fileName),
                "exported_at": .string(Timestamp.format(now)), "exported_by": .string(actor), "key_id": .string(key.keyId),
            ]
            let covered: (first: AuditPosition?, last: AuditPosition?)
            switch request.kind {
            case .audit:
                covered = try await writeAudit(request, from: store, to: file)
                fields["chain"] = .string(request.filters.isEmpty ? "contiguous" : "filtered")
            case .decisions:
                covered = try await writeDecisions(request, from: store, masking: masking, to: file)
                fields["chain"] = "none"
                fields["masked_fields"] = .array(masking.fields.map(JSONValue.string))
                fields["masking_key_id"] = .string(masking.keyId)
            }
            fields["rows"] = .int(Int64(file.rows))
            fields["file_sha256"] = .string(try file.finish())
            fields["first_seq"] = covered.first.map { .int($0.seq) } ?? .null
            fields["first_hash"] = covered.first.map { .string($0.hash) } ?? .null
            fields["last_seq"] = covered.last.map { .int($0.seq) } ?? .null
            fields["last_hash"] = covered.last.map { .string($0.hash) } ?? .null
            // The newest signed checkpoint of the chain's head: one more copy kept outside.
            fields["checkpoint"] = try await store.latestCheckpoint()?.json ?? .null
            let manifest = try ExportManifest.signed(fields, key: key)
            let manifestPath = partial.appendingPathComponent("manifest.json").path
            guard FileManager.default.createFile(atPath: manifestPath, contents: Data(CanonicalJSON.encode(manifest) + [0x0A]),
                                                 attributes: [.posixPermissions: 0o600]) else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: manifestPath])
            }
            try FileManager.default.moveItem(at: partial, to: final)
            return manifest
        } catch {
            try? FileManager.default.removeItem(at: partial)
            throw error
        }
    }

    /// Where an export is written until it is complete.
    public static func partialDirectory(_ final: URL) -> URL {
        final.deletingLastPathComponent().appendingPathComponent(final.lastPathComponent + ".partial")
    }

    /// Audit entries as JSON lines or CSV records (``ExportedAuditEntry``'s columns; `data` as
    /// its canonical JSON text, a null `correlation_id` as an empty cell). Returns the first and
    /// last entries written.
    static func writeAudit(_ request: ExportRequest, from store: any AuditStore, to file: ExportFile) async throws
        -> (first: AuditPosition?, last: AuditPosition?) {
        if request.format == .csv { CSV.writeRecord(ExportRequest.csvColumns(.audit).map(JSONValue.string), into: &file.buffer) }
        let covered = Locked<(first: AuditPosition?, last: AuditPosition?)>((nil, nil))
        try await store.exportEntries(request) { row in
            switch request.format {
            case .jsonl:
                line(seq: row.seq, at: row.at, actor: row.actor, kind: row.kind, subject: row.subject, correlationId: row.correlationId,
                     data: row.data, prevHash: row.prevHash, hash: row.hash, into: &file.buffer)
            case .csv:
                CSV.writeRecord([.int(row.seq), .string(row.at), .string(row.actor), .string(row.kind), .string(row.subject),
                                 row.correlationId.map(JSONValue.string) ?? .null, .string(row.data), .string(row.prevHash),
                                 .string(row.hash)], into: &file.buffer)
            }
            let position = AuditPosition(seq: row.seq, hash: row.hash)
            covered.withLock { covered in
                if covered.first == nil { covered.first = position }
                covered.last = position
            }
            try file.rowWritten()
        }
        return covered.withLock { $0 }
    }

    /// Decisions (``DecisionExportRow``), masked. Returns the lowest and highest
    /// `decision.made` audit entries of the rows written.
    static func writeDecisions(_ request: ExportRequest, from store: any AuditStore, masking: ExportMasking,
                               to file: ExportFile) async throws -> (first: AuditPosition?, last: AuditPosition?) {
        if request.format == .csv { CSV.writeRecord(DecisionExportRow.columns.map(JSONValue.string), into: &file.buffer) }
        let covered = Locked<(first: AuditPosition?, last: AuditPosition?)>((nil, nil))
        try await store.exportDecisions(request) { fields, audit in
            if let audit {
                covered.withLock { covered in
                    if covered.first.map({ audit.seq < $0.seq }) ?? true { covered.first = audit }
                    if covered.last.map({ audit.seq > $0.seq }) ?? true { covered.last = audit }
                }
            }
            var fields = fields
            masking.apply(to: &fields)
            DecisionExportRow.write(fields, request.format, into: &file.buffer)
            try file.rowWritten()
        }
        return covered.withLock { $0 }
    }

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
}
