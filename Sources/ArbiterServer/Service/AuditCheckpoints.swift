import ArbiterApp
import ArbiterCore
import Logging

/// Signs checkpoints of the audit chain's head (``AuditCheckpoint``): when the service starts,
/// every interval while the head moves (a chore of the ``BackgroundService``), and once more
/// when it stops, after every service that writes audit entries. Each one is kept in the
/// database, served at `GET /v1/audit/checkpoint`, put in export manifests, and logged — so
/// copies live outside the database an attacker would truncate.
struct AuditCheckpoints: Sendable {
    let trail: AuditTrail
    let key: ExportSigningKey

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
