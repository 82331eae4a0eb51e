import ArbiterCore
import Crypto
import Foundation

/// The keys, masked fields and directory exports use, read from a configuration.
public struct ExportSettings: Sendable {
    var signingKey: ExportSigningKey
    var masking: ExportMasking
    var directory: String
    var inlineWait: Duration
    /// This instance, when the directory is shared with others (see ``ExportJobs``).
    var instance: String?

    public init(_ configuration: ServerConfiguration) throws {
        self.init(configuration, signingKey: try ExportSigningKey.loadOrCreate(in: configuration.dataDirectory),
                  maskingKey: try ExportMasking.loadOrCreateKey(in: configuration.dataDirectory))
    }

    init(_ configuration: ServerConfiguration, signingKey: ExportSigningKey, maskingKey: SymmetricKey, instance: String? = nil) {
        self.instance = instance
        self.signingKey = signingKey
        masking = ExportMasking(paths: configuration.exportMaskPaths, key: maskingKey)
        directory = configuration.exportsDirectory
            ?? URL(fileURLWithPath: configuration.dataDirectory).appendingPathComponent("exports").path
        inlineWait = configuration.exportInlineWait
    }
}
