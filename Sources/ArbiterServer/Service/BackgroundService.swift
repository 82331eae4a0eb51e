import ArbiterApp
import ServiceLifecycle

/// Runs the ``BackgroundWork`` — jobs, shadow evaluations, chores — in the service group until
/// graceful shutdown, which cancels it: jobs stop and record that they were interrupted, queued
/// shadow evaluations are dropped, chores stop. Then `last` runs (the final audit checkpoint).
struct BackgroundService: Service {
    let work: BackgroundWork
    let chores: [Chore]
    let last: @Sendable () async -> Void

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await work.run(chores: chores)
        }
        await last()
    }
}
