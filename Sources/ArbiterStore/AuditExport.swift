import ArbiterCore
import Crypto
import Foundation
import GRDB

/// Writes audit entries to a file, one canonical JSON object per line, streamed from the
/// database: memory stays flat however many entries the range holds.
public enum AuditExport {
    public struct Filter: Sendable {
        public var from: Date
        public var to: Date
        public var actor: String?
        public var kind: String?

        public init(from: Date, to: Date, actor: String? = nil, kind: String? = nil) {
            self.from = from
            self.to = to
            self.actor = actor
            self.kind = kind
        }
    }

    /// What was written: rows, the file's SHA-256, and the first and last entries covered.
    public struct Written: Sendable {
        public var rows = 0
        public var sha256 = ""
        public var first: (seq: Int64, hash: String)?
        public var last: (seq: Int64, hash: String)?
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

    /// Entries with `at` in [from, to) (and the filters), in `seq` order, as JSON lines.
    public static func write(_ db: Database, _ filter: Filter, to url: URL) throws -> Written {
        var conditions = ["at >= ?", "at < ?"]
        var arguments: StatementArguments = [Timestamp.format(filter.from), Timestamp.format(filter.to)]
        if let actor = filter.actor { conditions.append("actor = ?"); arguments += [actor] }
        if let kind = filter.kind { conditions.append("kind = ?"); arguments += [kind] }
        let rows = try Row.fetchCursor(db, sql: """
            SELECT seq, at, actor, kind, subject, correlation_id, data, prev_hash, hash FROM audit_log
            WHERE \(conditions.joined(separator: " AND ")) ORDER BY seq
            """, arguments: arguments)
        guard FileManager.default.createFile(atPath: url.path, contents: nil, attributes: [.posixPermissions: 0o600]),
              let handle = try? FileHandle(forWritingTo: url) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: url.path])
        }
        defer { try? handle.close() }
        var written = Written()
        var hasher = SHA256()
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 20)
        func flush() throws {
            hasher.update(data: buffer)
            try handle.write(contentsOf: buffer)
            buffer.removeAll(keepingCapacity: true)
        }
        while let row = try rows.next() {
            let seq: Int64 = row[0]
            let hash: String = row[8]
            line(seq: seq, at: row[1], actor: row[2], kind: row[3], subject: row[4], correlationId: row[5], data: row[6],
                 prevHash: row[7], hash: hash, into: &buffer)
            if written.first == nil { written.first = (seq, hash) }
            written.last = (seq, hash)
            written.rows += 1
            if buffer.count >= 1 << 20 { try flush() }
        }
        try flush()
        try handle.synchronize()
        written.sha256 = Hex.encode(hasher.finalize())
        return written
    }

    /// Writes an export of `filter` into the new directory `final` — `audit.jsonl` and the
    /// signed `manifest.json` (both 0600) — and returns the manifest. The directory appears only
    /// once both are written and synced; a failure leaves nothing behind. The server
    /// (`POST /v1/exports`) and `arbiter audit export --db` both come here.
    public static func export(_ db: Database, _ filter: Filter, id: String, to final: URL, by actor: String,
                              key: ExportSigningKey, at now: Date = Date()) throws -> JSONValue {
        guard !FileManager.default.fileExists(atPath: final.path) else {
            throw CocoaError(.fileWriteFileExists, userInfo: [NSFilePathErrorKey: final.path])
        }
        let partial = final.deletingLastPathComponent().appendingPathComponent(final.lastPathComponent + ".partial")
        try FileManager.default.createDirectory(at: partial, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        do {
            let fileName = "audit.jsonl"
            let written = try write(db, filter, to: partial.appendingPathComponent(fileName))
            var filters: [String: JSONValue] = [:]
            if let actor = filter.actor { filters["actor"] = .string(actor) }
            if let kind = filter.kind { filters["kind"] = .string(kind) }
            let manifest = try ExportManifest.signed([
                "format_version": 1, "id": .string(id), "kind": "audit", "format": "jsonl",
                "from": .string(Timestamp.format(filter.from)), "to": .string(Timestamp.format(filter.to)), "filters": .object(filters),
                "rows": .int(Int64(written.rows)), "file": .string(fileName), "file_sha256": .string(written.sha256),
                "first_seq": written.first.map { .int($0.seq) } ?? .null, "first_hash": written.first.map { .string($0.hash) } ?? .null,
                "last_seq": written.last.map { .int($0.seq) } ?? .null, "last_hash": written.last.map { .string($0.hash) } ?? .null,
                "exported_at": .string(Timestamp.format(now)), "exported_by": .string(actor), "key_id": .string(key.keyId),
                // Every entry of the range links to the one before it; a filtered export's rows check one by one.
                "chain": .string(filters.isEmpty ? "contiguous" : "filtered"),
            ], key: key)
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
}
