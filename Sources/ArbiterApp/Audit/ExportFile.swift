import ArbiterCore
import Crypto
import Foundation

/// The file an export streams into: rows go into `buffer`, written out a mebibyte at a time
/// with the SHA-256 taken on the way, so memory stays flat however many rows there are.
final class ExportFile: @unchecked Sendable {  // one export's rows, written from the one thread they stream on
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
