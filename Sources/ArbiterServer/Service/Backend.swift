import ArbiterApp
import ArbiterCore
import ArbiterPostgres
import ArbiterSQLite
import Crypto
import Foundation
import Logging
import ServiceLifecycle

/// The backend a configuration names — the embedded SQLite file in the data directory, or a
/// PostgreSQL database that several instances share — with the keys every instance must hold
/// alike, and what an instance must do to see what the others change.
struct Backend: Sendable {
    let storage: any Storage
    /// This instance's name on a shared backend (nil on the embedded one).
    let instance: String?
    let signingKey: ExportSigningKey
    let maskingKey: SymmetricKey
    /// Set when other instances share the backend: what decides live, as a number that moves
    /// with every change any instance makes (watched to load their changes).
    let policyGeneration: (@Sendable () async throws -> Int64)?
    /// Runs until graceful shutdown, then closes the connections: first in the service list,
    /// so it stops last, after everything that writes.
    let service: (any Service)?

    /// Key-cache lifetime: a key revoked through another instance is refused here within it.
    var keyCacheLifetime: Duration { policyGeneration == nil ? .seconds(5) : .milliseconds(500) }

    static func open(_ configuration: ServerConfiguration, database: AppDatabase?, metrics: ServiceMetrics,
                     logger: Logger) async throws -> Backend {
        guard let url = configuration.databaseURL else {
            let storage = SQLiteStorage(database: try database ?? AppDatabase.open(path: configuration.databasePath), metrics: metrics)
            return Backend(storage: storage, instance: nil, signingKey: try ExportSigningKey.loadOrCreate(in: configuration.dataDirectory),
                           maskingKey: try ExportMasking.loadOrCreateKey(in: configuration.dataDirectory),
                           policyGeneration: nil, service: nil)
        }
        let backend = try await PostgresBackend.connect(url: url, logger: logger)
        do {
            let instance = try configuration.instanceName ?? InstanceName.loadOrCreate(in: configuration.dataDirectory)
            let storage = PostgresStorage(backend: backend, metrics: metrics, instance: instance,
                                          deliveryLease: configuration.deliveryLease)
            // Keys that must be one for every instance live in the database, sealed with the
            // key-encryption key when one is given.
            let environment = ProcessInfo.processInfo.environment
            let secrets = PostgresSecrets(backend: backend, keyEncryptionKey: try PostgresSecrets.keyEncryptionKey(environment: environment))
            let signing = try await secrets.secret(named: "export-signing-key") {
                Array(Curve25519.Signing.PrivateKey().rawRepresentation)
            }
            let masking = try await secrets.secret(named: "export-masking-key") {
                SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
            }
            logger.info("storage: PostgreSQL", metadata: ["instance": "\(instance)"])
            return Backend(storage: storage, instance: instance,
                           signingKey: ExportSigningKey(privateKey: try Curve25519.Signing.PrivateKey(rawRepresentation: signing)),
                           maskingKey: SymmetricKey(data: masking), policyGeneration: storage.policyGeneration,
                           service: ClosingService(close: { backend.close() }))
        } catch {
            backend.close()
            throw error
        }
    }
}

/// Waits for graceful shutdown, then closes something (the database connections).
struct ClosingService: Service {
    let close: @Sendable () -> Void

    func run() async throws {
        try? await gracefulShutdown()
        close()
    }
}

/// This instance's name as leases and jobs record it: `--instance-name`, or one made at the
/// first start and kept in the data directory, so a restart is the same instance.
enum InstanceName {
    static func loadOrCreate(in directory: String) throws -> String {
        let file = URL(fileURLWithPath: directory).appendingPathComponent("instance-name")
        if let text = try? String(contentsOf: file, encoding: .utf8) {
            let name = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if !name.isEmpty { return name }
        }
        try SecretFile.prepareDirectory(directory)
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "arbiter"
        let name = "\(host)-\(UUID().uuidString.prefix(8).lowercased())"
        try Data((name + "\n").utf8).write(to: file, options: .atomic)
        return name
    }
}
