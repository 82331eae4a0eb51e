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
        guard let name = manifest["file"]?.stringValue, !name.contains("/"),
              let handle = FileHandle(forReadingAtPath: directory.appendingPathComponent(name).path) else {
            throw Failure(problem: "the file the manifest names is missing")
        }
        defer { try? handle.close() }
        let isAudit = manifest["kind"] == "audit"
        let contiguous = manifest["chain"] == "contiguous"
        var hasher = SHA256Stream()
        var rows: Int64 = 0
        var pending: [UInt8] = []
        var previous: AuditEntry?
        var first: AuditEntry?
        func line(_ bytes: ArraySlice<UInt8>) throws {
            rows += 1
            guard isAudit else { return }
            guard let value = try? bytes.withUnsafeBufferPointer({ try JSONValue.parse($0) }), let entry = AuditEntry(json: value) else {
                throw Failure(problem: "row \(rows) is not an audit entry")
            }
            guard entry.computedHash() == entry.hash else {
                throw Failure(problem: "row \(rows) (seq \(entry.seq)): its hash does not match its contents (altered)")
            }
            if contiguous, let previous {
                guard entry.seq == previous.seq + 1, entry.prevHash == previous.hash else {
                    throw Failure(problem: "row \(rows) (seq \(entry.seq)) does not follow seq \(previous.seq): a row is missing or out of order")
                }
            }
            if first == nil { first = entry }
            previous = entry
        }
        while let block = try handle.read(upToCount: 1 << 20), !block.isEmpty {
            hasher.update(block)
            pending.append(contentsOf: block)
            var start = pending.startIndex
            while let newline = pending[start...].firstIndex(of: 0x0A) {
                try line(pending[start..<newline])
                start = newline + 1
            }
            pending.removeSubrange(..<start)
        }
        if !pending.isEmpty { try line(pending[...]) }
        let digest = hasher.hex
        guard digest == manifest["file_sha256"]?.stringValue else { throw Failure(problem: "the file's SHA-256 does not match the manifest") }
        guard rows == manifest["rows"]?.intValue else {
            throw Failure(problem: "the file has \(rows) rows; the manifest says \(manifest["rows"]?.intValue.map(String.init) ?? "nothing")")
        }
        if isAudit {
            guard first?.seq == manifest["first_seq"]?.intValue, first?.hash == manifest["first_hash"]?.stringValue,
                  previous?.seq == manifest["last_seq"]?.intValue, previous?.hash == manifest["last_hash"]?.stringValue else {
                throw Failure(problem: "the first or last entry does not match the manifest's first/last seq and hash")
            }
        }
        var summary = "\(rows) rows, signature by \(manifest["key_id"]?.stringValue ?? "?"), file SHA-256 \(digest)"
        if isAudit {
            summary += ", audit chain \(contiguous ? "linked" : "entries") intact from seq \(first.map { String($0.seq) } ?? "-") to \(previous.map { String($0.seq) } ?? "-")"
        }
        return summary
    }
}
