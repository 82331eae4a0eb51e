import ArbiterApp
import ArbiterCore
import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1

/// Appends one NDJSON line per action to `<directory>/actions-YYYY-MM-DD.ndjson` (UTC day) and
/// fsyncs it before the action counts as delivered, for ERPs that import batches. Each line is
/// `{"idempotency_key": <action id>, "action": <the same JSON the HTTP connector posts>}`; after a
/// crash between the fsync and the record, the line is written again with the same key, so an
/// importer must skip keys it has seen. A failed write is cut back so lines are always whole.
public actor FileConnector: ERPConnector {
    public nonisolated var name: String { "file" }
    let directory: URL
    private var open: (day: String, descriptor: Int32)?

    public init(directory: String) throws {
        self.directory = URL(fileURLWithPath: directory)
        try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true)
    }

    public static func fileName(day: String) -> String { "actions-\(day).ndjson" }

    public func deliver(_ action: PendingAction) async -> DeliveryAttempt {
        let started = ContinuousClock.now
        let line = CanonicalJSON.object([
            ("idempotency_key", CanonicalJSON.encode(.string(action.id))), ("action", Array(action.payload.utf8)),
        ]) + [0x0A]
        do {
            let day = String(Timestamp.format(Date()).prefix(10))
            let descriptor = try file(for: day)
            let end = lseek(descriptor, 0, SEEK_END)
            guard end >= 0 else { throw SpoolError("cannot seek: \(String(cString: strerror(errno)))") }
            var written = 0
            while written < line.count {
                let n = line[written...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
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
            return DeliveryAttempt(result: .delivered(reference: Self.fileName(day: day)), duration: ContinuousClock.now - started)
        } catch {
            return DeliveryAttempt(result: .retry(after: nil), error: "\(error)", duration: ContinuousClock.now - started)
        }
    }

    /// The day's file, opened for appending; a new file's directory entry is synced too.
    private func file(for day: String) throws -> Int32 {
        if let open, open.day == day { return open.descriptor }
        if let open { close(open.descriptor) }
        open = nil
        let path = directory.appendingPathComponent(Self.fileName(day: day)).path
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
        open = (day, descriptor)
        return descriptor
    }

    struct SpoolError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
