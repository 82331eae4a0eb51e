import ArbiterApp
import ArbiterCore
import Foundation
import Logging
import ServiceLifecycle

/// Signs a checkpoint of the audit chain's head (``AuditCheckpoint``) when the service starts,
/// every `interval` while the head moves, and once more when it stops (after every service that
/// writes audit entries has: it stops after the committer). Each one is kept in the database,
/// served at `GET /v1/audit/checkpoint`, put in export manifests, and logged — so copies live
/// outside the database an attacker would truncate.
struct AuditCheckpointService: Service {
    let trail: AuditTrail
    let key: ExportSigningKey
    let interval: Duration

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await take()
                try? await Task.sleep(for: interval)
            }
        }
        await take()   // the head as the service stops
    }

    /// Signs the head if it moved since the newest checkpoint.
    func take() async {
        let logger = Logger(label: "arbiter.audit")
        do {
            let checkpoint = try await trail.takeCheckpoint(key: key)
            if let checkpoint {
                logger.info("audit checkpoint", metadata: ["checkpoint": "\(CanonicalJSON.string(checkpoint.json))"])
            }
        } catch {
            logger.error("could not take an audit checkpoint", metadata: ["error": "\(error)"])
        }
    }
}
