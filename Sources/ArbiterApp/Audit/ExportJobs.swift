import ArbiterCore
import Foundation

/// Runs exports for `/v1/exports` and knows what became of each.
///
/// Every export runs as a job in the ``BackgroundWork``; the request waits for it up to
/// `inlineWait` (small ranges answer 201 with the manifest, large ones 202 with the id to poll).
/// Graceful shutdown interrupts a running export: it is recorded as failed, and a client asks
/// again.
/// The data directory is the record: `exports/<id>/` (manifest.json and the file) is a finished
/// export, `<id>.partial/` one being written, `<id>.failed` (JSON: error, at) one that failed or
/// was cut short by a restart — at start, every `.partial` left behind becomes `.failed`.
/// At most `maximumRunning` exports run at a time (each holds a read transaction and a core).
/// Instances sharing a database share the directory: an export running is
/// `<id>.instance` (the instance writing it) beside its `.partial`, so any instance can say it
/// runs and serve it once done, and a restarting instance fails only its own `.partial`s.
public final class ExportJobs: Sendable {
    let store: any AuditStore
    public let signingKey: ExportSigningKey
    let masking: ExportMasking
    /// One directory per export.
    let directory: URL
    let inlineWait: Duration
    let background: BackgroundWork
    /// Running exports (at most two), with the rows written so far.
    private let running = JobBoard(limit: 2)

    public enum Status: Sendable {
        case done(manifest: JSONValue)
        case running(rows: Int)
        case failed(error: String)
    }

    public struct Busy: Error {
        public let running: [String]
    }

    /// This instance, on a directory other instances share (nil: the directory is this one's).
    let instance: String?

    public init(store: any AuditStore, signingKey: ExportSigningKey, masking: ExportMasking, directory: String,
                inlineWait: Duration, background: BackgroundWork, instance: String? = nil) throws {
        self.instance = instance
        self.store = store
        self.background = background
        self.signingKey = signingKey
        self.masking = masking
        self.directory = URL(fileURLWithPath: directory)
        self.inlineWait = inlineWait
        try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        for name in try FileManager.default.contentsOfDirectory(atPath: directory) where name.hasSuffix(".partial") {
            let id = String(name.dropLast(".partial".count))
            if let owner = owner(of: id), owner != instance { continue }   // another instance's, running
            try? FileManager.default.removeItem(at: self.directory.appendingPathComponent(name))
            try? FileManager.default.removeItem(at: ownerFile(id))
            recordFailure(id, "interrupted: the server stopped before the export was finished")
        }
    }

    /// Starts an export and waits for it up to `inlineWait`: its id and what became of it.
    public func start(_ request: ExportRequest, by actor: String) async throws -> (id: String, status: Status) {
        let id = Identifier.make(now: Date())
        if let busy = running.admit(id) { throw Busy(running: busy) }
        let (store, signingKey, masking, final) = (store, signingKey, masking, directory.appendingPathComponent(id))
        let running = running
        if let instance {
            _ = FileManager.default.createFile(atPath: ownerFile(id).path, contents: Data((instance + "\n").utf8),
                                               attributes: [.posixPermissions: 0o600])
        }
        do {
            try background.start { [self] in
                defer { try? FileManager.default.removeItem(at: ownerFile(id)) }
                do {
                    _ = try await Exports.export(request, from: store, id: id, to: final, by: actor, key: signingKey, masking: masking,
                                                 progress: { rows in running.report(id, progress: rows) })
                } catch {
                    recordFailure(id, Task.isCancelled ? "interrupted: the service stopped before the export was finished" : "\(error)")
                }
                running.end(id)
            }
        } catch {
            running.end(id)
            try? FileManager.default.removeItem(at: ownerFile(id))
            throw error
        }
        await running.wait(for: id, upTo: inlineWait)
        return (id, try status(id) ?? .failed(error: "the export left no trace"))
    }

    /// Whether `id` can be one of ours (UUIDv7): anything else, path tricks included, is simply
    /// not found.
    static func isExportId(_ id: String) -> Bool {
        !id.isEmpty && id.allSatisfy { $0.isHexDigit || $0 == "-" }
    }

    /// What became of export `id`; nil when there is no such export.
    public func status(_ id: String) throws -> Status? {
        guard Self.isExportId(id) else { return nil }
        if let folder = finished(id) {
            return .done(manifest: try JSONValue.parse(Data(contentsOf: folder.appendingPathComponent("manifest.json"))))
        }
        if let rows = running.progress(of: id) { return .running(rows: rows) }
        if owner(of: id) != nil { return .running(rows: 0) }   // another instance writes it (rows not known here)
        if let data = FileManager.default.contents(atPath: failureFile(id).path) {
            return .failed(error: (try? JSONValue.parse(data))?["error"]?.stringValue ?? "failed")
        }
        return nil
    }

    /// The directory of finished export `id`, or nil.
    public func finished(_ id: String) -> URL? {
        guard Self.isExportId(id) else { return nil }
        let folder = directory.appendingPathComponent(id)
        return FileManager.default.fileExists(atPath: folder.appendingPathComponent("manifest.json").path) ? folder : nil
    }

    private func ownerFile(_ id: String) -> URL {
        directory.appendingPathComponent(id + ".instance")
    }

    /// The instance writing export `id`, while one does.
    private func owner(of id: String) -> String? {
        (try? String(contentsOf: ownerFile(id), encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func failureFile(_ id: String) -> URL {
        directory.appendingPathComponent(id + ".failed")
    }

    private func recordFailure(_ id: String, _ error: String) {
        let record = CanonicalJSON.encode(.object(["error": .string(error), "at": .string(Timestamp.format(Date()))]))
        _ = FileManager.default.createFile(atPath: failureFile(id).path, contents: Data(record + [0x0A]),
                                       attributes: [.posixPermissions: 0o600])
    }
}
