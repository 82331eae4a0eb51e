import ArbiterApp
import ServiceLifecycle

/// Runs the storage's background writing (SQLite: the group committer) until graceful shutdown,
/// then writes what is still queued: the HTTP server stops first (services stop in reverse
/// order), so no acknowledged request is dropped.
struct StorageService: Service {
    let storage: any Storage

    func run() async throws {
        await withGracefulShutdownHandler {
            await storage.run()
        } onGracefulShutdown: {
            storage.stop()
        }
    }
}
