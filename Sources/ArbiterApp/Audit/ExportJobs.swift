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

    public init(store: any AuditStore, signingKey: ExportSigningKey, masking: ExportMasking, directory: String,
                inlineWait: Duration, background: BackgroundWork) throws {
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
            try? FileManager.default.removeItem(at: self.directory.appendingPathComponent(name))
            recordFailure(id, "interrupted: the server stopped before the export was finished")
        }
    }

    /// Starts an export and waits for it up to `inlineWait`: its id and what became of it.
    public func start(_ request: ExportRequest, by actor: String) async throws -> (id: String, status: Status) {
        let id = Identifier.make(now: Date())
        if let busy = running.admit(id) { throw Busy(running: busy) }
        let (store, signingKey, masking, final) = (store, signingKey, masking, directory.appendingPathComponent(id))
        let running = running
        do {
            try background.start { [self] in
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

    private func failureFile(_ id: String) -> URL {
        directory.appendingPathComponent(id + ".failed")
    }

    private func recordFailure(_ id: String, _ error: String) {
        let record = CanonicalJSON.encode(.object(["error": .string(error), "at": .string(Timestamp.format(Date()))]))
        _ = FileManager.default.createFile(atPath: failureFile(id).path, contents: Data(record + [0x0A]),
                                       attributes: [.posixPermissions: 0o600])
    }
}
