import ArbiterApp
import ArbiterCore
import ArbiterPolicy
import Foundation
import Logging
import ServiceLifecycle

/// Keeps the policy workers until graceful shutdown, then stops their threads: it stops last,
/// after the HTTP server and every service that may still evaluate.
struct WorkersService: Service {
    let workers: PolicyWorkers

    func run() async throws {
        try? await gracefulShutdown()
        await workers.shutdown()
    }
}
