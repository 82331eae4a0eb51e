import ArbiterApp
import ArbiterCore
import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1

/// Appends one line per action to a daily file (UTC day) and fsyncs it before the action counts
/// as delivered, for ERPs that import batches. A failed write is cut back so lines are always
/// whole; after a crash between the fsync and the record, the line is written again with the
/// same key, so an importer must skip (or update) keys it has seen. Layouts:
///
/// - ``Layout/ndjson``: `<directory>/actions-YYYY-MM-DD.ndjson`, each line
///   `{"idempotency_key": <action id>, "action": <the same JSON the HTTP connector posts>}`.
/// - ``Layout/netsuiteCSV(_:)``: NetSuite's CSV import layout, one file per record type and day
///   (`netsuite-creditMemo-YYYY-MM-DD.csv`, `netsuite-customerRefund-…`), a header row when the
///   file is made, RFC 4180 quoting and CRLF, the action's id as the External ID — imported with
///   "Add or Update" keyed on External ID, a repeated line updates the same record.
public actor FileConnector: ERPConnector {
    public enum Layout: Sendable, Hashable {
        case ndjson
        case netsuiteCSV(NetSuiteCSVLayout)
    }

    public nonisolated var name: String { "file" }
    let directory: URL
    let layout: Layout
    /// The account's external references (the NetSuite CSV layout names the customer by its id).
    let refs: @Sendable (String) async throws -> [String: String]
    private var open: (name: String, descriptor: Int32)?

    public init(directory: String, layout: Layout = .ndjson,
                refs: @escaping @Sendable (String) async throws -> [String: String] = { _ in [:] }) throws {
        self.directory = URL(fileURLWithPath: directory)
        self.layout = layout
        self.refs = refs
        try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true)
    }

    public static func fileName(day: String) -> String { "actions-\(day).ndjson" }

    /// A line to append, the file it goes to, and the header a new file starts with.
    struct Line {
        var file: String
        var header: [UInt8]
        var bytes: [UInt8]
    }

    public func deliver(_ action: PendingAction) async -> DeliveryAttempt {
        let started = ContinuousClock.now
        let day = String(Timestamp.format(Date()).prefix(10))
        let line: Line
        switch layout {
        case .ndjson:
            line = Line(file: Self.fileName(day: day), header: [], bytes: CanonicalJSON.object([
                ("idempotency_key", CanonicalJSON.encode(.string(action.id))), ("action", Array(action.payload.utf8)),
            ]) + [0x0A])
        case .netsuiteCSV(let csv):
            switch await csv.line(action, day: day, refs: refs) {
            case .success(let made): line = made
            case .failure(let refusal):
                return DeliveryAttempt(result: .rejected, error: refusal.message, duration: ContinuousClock.now - started)
            }
        }
        do {
            let descriptor = try file(named: line.file)
            let end = lseek(descriptor, 0, SEEK_END)
            guard end >= 0 else { throw SpoolError("cannot seek: \(String(cString: strerror(errno)))") }
            let bytes = end == 0 ? line.header + line.bytes : line.bytes
            var written = 0
            while written < bytes.count {
                let n = bytes[written...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
                if n < 0 {
                    if errno == EINTR { continue }
                    let reason = String(cString: strerror(errno))
                    _ = ftruncate(descriptor, end)
                    throw SpoolError("write failed: \(reason)")
                }
                written += n
            }
            guard fsync(descriptor) == 0 else {
                let reason = String(cString: strerror(errno))
                _ = ftruncate(descriptor, end)
                throw SpoolError("fsync failed: \(reason)")
            }
            return DeliveryAttempt(result: .delivered(reference: line.file), duration: ContinuousClock.now - started)
        } catch {
            return DeliveryAttempt(result: .retry(after: nil), error: "\(error)", duration: ContinuousClock.now - started)
        }
    }

    /// The file, opened for appending; a new file's directory entry is synced too.
    private func file(named name: String) throws -> Int32 {
        if let open, open.name == name { return open.descriptor }
        if let open { close(open.descriptor) }
        open = nil
        let path = directory.appendingPathComponent(name).path
        let existed = FileManager.default.fileExists(atPath: path)
        let descriptor = path.withCString { Glibc.open($0, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640) }
        guard descriptor >= 0 else { throw SpoolError("cannot open \(path): \(String(cString: strerror(errno)))") }
        if !existed {
            let directoryDescriptor = directory.path.withCString { Glibc.open($0, O_RDONLY | O_DIRECTORY) }
            if directoryDescriptor >= 0 {
                _ = fsync(directoryDescriptor)
                close(directoryDescriptor)
            }
        }
        open = (name, descriptor)
        return descriptor
    }

    struct SpoolError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
