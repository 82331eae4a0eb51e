import ArbiterCore
import Crypto
import Foundation
import GRDB

/// An audit entry an export covers: its place in the chain.
struct Covered {
    var seq: Int64
    var hash: String
}

/// The file an export streams into: rows go into `buffer`, written out a mebibyte at a time
/// with the SHA-256 taken on the way, so memory stays flat however many rows there are.
final class ExportFile {
    private let handle: FileHandle
    private var hasher = SHA256()
    var buffer: [UInt8] = []
    private(set) var rows = 0
    private let progress: (@Sendable (Int) -> Void)?

    init(url: URL, progress: (@Sendable (Int) -> Void)?) throws {
        guard FileManager.default.createFile(atPath: url.path, contents: nil, attributes: [.posixPermissions: 0o600]),
              let handle = try? FileHandle(forWritingTo: url) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: url.path])
        }
        self.handle = handle
        self.progress = progress
        buffer.reserveCapacity(1 << 20 + 1 << 16)
    }

    deinit { try? handle.close() }

    /// Counts the row just appended to `buffer`.
    func rowWritten() throws {
        rows += 1
        if buffer.count >= 1 << 20 {
            try flush()
            progress?(rows)
        }
    }

    private func flush() throws {
        hasher.update(data: buffer)
        try handle.write(contentsOf: buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    /// Writes what is left, syncs the file to disk and returns its SHA-256 (hex).
    func finish() throws -> String {
        try flush()
        try handle.synchronize()
        return Hex.encode(hasher.finalize())
    }
}

/// Exports for auditors: decisions or audit entries over a time range, as JSON lines or CSV,
/// with a signed manifest (``ExportManifest``). The server (`POST /v1/exports`) and
/// `arbiter audit export --db` both come here.
public enum Exports {
    /// Writes the export into the new directory `final` — the file (`audit.jsonl`,
    /// `decisions.csv`, …) and the signed `manifest.json`, both 0600 — and returns the manifest.
    /// Rows are streamed from one read transaction (a consistent snapshot). The directory
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
    public static func export(_ db: Database, _ request: ExportRequest, id: String, to final: URL, by actor: String,
                              key: ExportSigningKey, masking: ExportMasking, at now: Date = Date(),
                              progress: (@Sendable (Int) -> Void)? = nil) throws -> JSONValue {
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
            let covered: (first: Covered?, last: Covered?)
            switch request.kind {
            case .audit:
                covered = try AuditExport.write(db, request, to: file)
                fields["chain"] = .string(request.filters.isEmpty ? "contiguous" : "filtered")
            case .decisions:
                covered = try DecisionExport.write(db, request, masking: masking, to: file)
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
            fields["checkpoint"] = try AuditCheckpoints.latest(db)?.json ?? .null
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
}
