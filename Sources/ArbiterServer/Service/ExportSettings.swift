import ArbiterCore
import Foundation

/// The keys, masked fields and directory exports use, read from a configuration.
public struct ExportSettings: Sendable {
    var signingKey: ExportSigningKey
    var masking: ExportMasking
    var directory: String
    var inlineWait: Duration

    public init(_ configuration: ServerConfiguration) throws {
        signingKey = try ExportSigningKey.loadOrCreate(in: configuration.dataDirectory)
        masking = ExportMasking(paths: configuration.exportMaskPaths,
                                key: try ExportMasking.loadOrCreateKey(in: configuration.dataDirectory))
        directory = URL(fileURLWithPath: configuration.dataDirectory).appendingPathComponent("exports").path
        inlineWait = configuration.exportInlineWait
    }
}
