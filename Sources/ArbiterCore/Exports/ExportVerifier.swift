import Crypto
import Foundation

/// Checks an export directory offline — what `arbiter audit verify-export` runs: the manifest's
/// signature against a public key the auditor holds, the file's SHA-256 and row count against
/// the manifest, and for an audit export each entry's hash, the links between entries
/// (contiguous exports) and the first and last entries against the manifest. Reads the file
/// once, a block at a time: memory stays flat however large the export.
public enum ExportVerifier {
    public enum Outcome: Equatable, Sendable {
        /// What was checked, for the auditor.
        case verified(String)
        /// The first problem found.
        case failed(String)
    }

    private struct Failure: Error { let problem: String }

    public static func verify(directory: URL, publicKey: Curve25519.Signing.PublicKey) -> Outcome {
        do {
            return .verified(try check(directory: directory, publicKey: publicKey))
        } catch let failure as Failure {
            return .failed(failure.problem)
        } catch {
            return .failed("\(error)")
        }
    }

    private static func check(directory: URL, publicKey: Curve25519.Signing.PublicKey) throws -> String {
        guard let data = FileManager.default.contents(atPath: directory.appendingPathComponent("manifest.json").path),
              let manifest = try? JSONValue.parse(data), manifest.objectValue != nil else {
            throw Failure(problem: "\(directory.path): no readable manifest.json")
        }
        if case .invalid(let why) = ExportManifest.verifySignature(manifest, publicKey: publicKey) { throw Failure(problem: why) }
        if manifest["kind"] == "reconciliation" { return try checkReconciliation(directory: directory, manifest: manifest) }
        guard let kind = manifest["kind"]?.stringValue.flatMap(ExportRequest.Kind.init(rawValue:)),
              let format = manifest["format"]?.stringValue.flatMap(ExportRequest.Format.init(rawValue:)) else {
            throw Failure(problem: "the manifest names no kind (audit, decisions) and format (jsonl, csv) this verifier knows")
        }
        guard let name = manifest["file"]?.stringValue, !name.contains("/"),
              let handle = FileHandle(forReadingAtPath: directory.appendingPathComponent(name).path) else {
            throw Failure(problem: "the file the manifest names is missing")
        }
        defer { try? handle.close() }
        var chain = ChainCheck(isAudit: kind == .audit, contiguous: manifest["chain"] == "contiguous")
        // The file's SHA-256 is taken on another thread while this one checks the rows.
        let fileDigest = BlockDigest()
        defer { fileDigest.finish() }
        switch format {
        case .jsonl:
            var pending: [UInt8] = []
            while let block = try handle.read(upToCount: 1 << 20), !block.isEmpty {
                fileDigest.update(block)
                pending.append(contentsOf: block)
                let consumed = try pending.withUnsafeBufferPointer { buffer in
                    var start = 0
                    while start < buffer.count, let found = memchr(buffer.baseAddress! + start, 0x0A, buffer.count - start) {
                        let newline = buffer.baseAddress!.distance(to: found.assumingMemoryBound(to: UInt8.self))
                        try chain.line(UnsafeBufferPointer(rebasing: buffer[start..<newline]))
                        start = newline + 1
                    }
                    return start
                }
                pending.removeSubrange(..<consumed)
            }
            if !pending.isEmpty { try pending.withUnsafeBufferPointer { try chain.line($0) } }
        case .csv:
            var reader = CSV.Reader()
            var header: [String]?
            let expected = ExportRequest.csvColumns(kind)
            func record(_ cells: [String]) throws {
                guard header != nil else {
                    guard cells == expected else { throw Failure(problem: "the CSV header is not the \(kind.rawValue) columns: \(expected.joined(separator: ","))") }
                    header = cells
                    return
                }
                try chain.record(cells)
            }
            while let block = try handle.read(upToCount: 1 << 20), !block.isEmpty {
                fileDigest.update(block)
                try reader.feed(block, record: record)
            }
            try reader.finish(record: record)
            if reader.malformed { throw Failure(problem: "the file is not well-formed CSV (a stray or unclosed quote)") }
            if header == nil { throw Failure(problem: "the CSV file has no header") }
        }
        let digest = fileDigest.finish()
        guard digest == manifest["file_sha256"]?.stringValue else { throw Failure(problem: "the file's SHA-256 does not match the manifest") }
        guard chain.rows == manifest["rows"]?.intValue else {
            throw Failure(problem: "the file has \(chain.rows) rows; the manifest says \(manifest["rows"]?.intValue.map(String.init) ?? "nothing")")
        }
        var summary = "\(chain.rows) \(kind == .audit ? "audit entries" : "decisions") (\(format.rawValue)), signature by \(manifest["key_id"]?.stringValue ?? "?"), file SHA-256 \(digest)"
        if kind == .audit {
            let last = chain.previousSeq.map { ($0, String(decoding: chain.previousHash, as: UTF8.self)) }
            guard chain.first?.seq == manifest["first_seq"]?.intValue, chain.first?.hash == manifest["first_hash"]?.stringValue,
                  last?.0 == manifest["last_seq"]?.intValue, last?.1 == manifest["last_hash"]?.stringValue else {
                throw Failure(problem: "the first or last entry does not match the manifest's first/last seq and hash")
            }
            summary += ", audit chain \(chain.contiguous ? "linked" : "entries") intact from seq \(chain.first.map { String($0.seq) } ?? "-") to \(last.map { String($0.0) } ?? "-")"
        }
        return summary
    }

    /// A reconciliation's report (``ReconciliationReport``): every file the manifest names has its
    /// SHA-256, the CSV its header and row count.
    private static func checkReconciliation(directory: URL, manifest: JSONValue) throws -> String {
        var rows: Int64 = 0
        var header: [String]?
        for (fileField, digestField) in [("file", "file_sha256"), ("report", "report_sha256"), ("erp_file", "erp_file_sha256")] {
            guard let name = manifest[fileField]?.stringValue, !name.contains("/"),
                  let handle = FileHandle(forReadingAtPath: directory.appendingPathComponent(name).path) else {
                throw Failure(problem: "the file the manifest names as \(fileField) is missing")
            }
            defer { try? handle.close() }
            var hasher = SHA256Stream()
            var reader = CSV.Reader()
            let isReport = fileField == "file"
            func record(_ cells: [String]) throws {
                if header == nil {
                    guard cells == ReconciliationReport.columns else {
                        throw Failure(problem: "the CSV header is not the reconciliation columns: \(ReconciliationReport.columns.joined(separator: ","))")
                    }
                    header = cells
                } else {
                    rows += 1
                }
            }
            while let block = try handle.read(upToCount: 1 << 20), !block.isEmpty {
                hasher.update(block)
                if isReport { try reader.feed(block, record: record) }
            }
            if isReport {
                try reader.finish(record: record)
                if reader.malformed || header == nil { throw Failure(problem: "\(name) is not a well-formed reconciliation CSV") }
            }
            guard hasher.hex == manifest[digestField]?.stringValue else {
                throw Failure(problem: "\(name)'s SHA-256 does not match the manifest")
            }
        }
        guard rows == manifest["rows"]?.intValue else {
            throw Failure(problem: "the report has \(rows) rows; the manifest says \(manifest["rows"]?.intValue.map(String.init) ?? "nothing")")
        }
        return "reconciliation \(manifest["id"]?.stringValue ?? "?") (mapping \(manifest["mapping"]?.stringValue ?? "?"), \(manifest["from"]?.stringValue ?? "?") to \(manifest["to"]?.stringValue ?? "?")): \(rows) rows, \(manifest["exceptions"]?.intValue ?? 0) exceptions, signature by \(manifest["key_id"]?.stringValue ?? "?"), report SHA-256 \(manifest["report_sha256"]?.stringValue ?? "?"), every file intact"
    }

    /// Counts rows and, for an audit export, checks each entry's hash and (contiguous exports)
    /// its link to the one before.
    private struct ChainCheck {
        let isAudit: Bool
        let contiguous: Bool
        var rows: Int64 = 0
        var first: (seq: Int64, hash: String)?
        var previousSeq: Int64?
        /// The previous entry's hash as written (64 hex bytes), overwritten row by row.
        var previousHash = [UInt8](repeating: 0, count: 64)

        init(isAudit: Bool, contiguous: Bool) {
            self.isAudit = isAudit
            self.contiguous = contiguous
        }

        mutating func line(_ bytes: UnsafeBufferPointer<UInt8>) throws {
            rows += 1
            guard isAudit else { return }
            guard let layout = ExportedAuditEntry.layout(bytes) else { throw Failure(problem: "row \(rows) is not an audit entry") }
            guard ExportedAuditEntry.hashMatches(bytes, layout) else { throw altered(layout.seq) }
            try link(seq: layout.seq, hash: bytes[layout.hash..<(layout.hash + 64)], prevHash: bytes[layout.prevHash..<(layout.prevHash + 64)])
        }

        mutating func record(_ cells: [String]) throws {
            rows += 1
            guard isAudit else { return }
            guard let entry = ExportedAuditEntry(csv: cells) else { throw Failure(problem: "row \(rows) is not an audit entry") }
            guard entry.computedHash == entry.hash else { throw altered(entry.seq) }
            try link(seq: entry.seq, hash: entry.hash, prevHash: entry.prevHash)
        }

        private func altered(_ seq: Int64) -> Failure {
            Failure(problem: "row \(rows) (seq \(seq)): its hash does not match its contents (altered)")
        }

        private mutating func link(seq: Int64, hash: some Collection<UInt8>, prevHash: some Collection<UInt8>) throws {
            if contiguous, let previousSeq {
                guard seq == previousSeq + 1, prevHash.elementsEqual(previousHash) else {
                    throw Failure(problem: "row \(rows) (seq \(seq)) does not follow seq \(previousSeq): a row is missing or out of order")
                }
            }
            if first == nil { first = (seq, String(decoding: hash, as: UTF8.self)) }
            previousSeq = seq
            for (k, byte) in hash.enumerated() { previousHash[k] = byte }
        }
    }
}

/// SHA-256 of a file read block by block, taken on a thread of its own (at most four blocks
/// waiting), so hashing the file and checking its rows use both cores.
private final class BlockDigest: @unchecked Sendable {
    private let queue = DispatchQueue(label: "arbiter.verify-export.sha256")
    private let waiting = DispatchSemaphore(value: 4)
    private var hasher = SHA256Stream()
    private var digest: String?

    func update(_ block: Data) {
        waiting.wait()
        queue.async {
            self.hasher.update(block)
            self.waiting.signal()
        }
    }

    /// The digest, once every block given is hashed.
    @discardableResult
    func finish() -> String {
        queue.sync {
            if digest == nil { digest = hasher.hex }
            return digest!
        }
    }
}
