import ArbiterCore
import Foundation
import NIOPosix

/// Threads of their own for policy evaluations in the service.
///
/// An evaluation is synchronous C and Lua that may run up to its time limit. On Swift's
/// cooperative pool (two threads on two cores) a few of those would stall every request
/// handler, `/healthz` included; inside the write transaction one would stall every write of
/// the service. So live decisions, shadow versions, simulate and publish tests run here, on two
/// lanes: the regular lane (one thread per core) and the quarantine lane (one thread) for
/// events whose policies hit a limit or ran slow the last time (``PolicySet/isQuarantined(_:)``):
/// a misbehaving policy's events queue behind each other, never in front of other events.
public final class PolicyWorkers: Sendable {
    private let regular: NIOThreadPool
    private let quarantine: NIOThreadPool

    public init(threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        regular = NIOThreadPool(numberOfThreads: max(1, threads))
        quarantine = NIOThreadPool(numberOfThreads: 1)
        regular.start()
        quarantine.start()
    }

    /// Runs `body` on the regular lane, or on the quarantine lane.
    public func run<T: Sendable>(quarantined: Bool = false, _ body: @escaping @Sendable () -> T) async throws -> T {
        do {
            return try await (quarantined ? quarantine : regular).runIfActive(body)
        } catch {
            throw ShuttingDown()
        }
    }

    /// The service's decision on an event, evaluated on the lane its policies' health calls for.
    public func decide(_ event: Event, context: PolicyContext, guardrails: Guardrails, engine: PolicyEngine,
                       set: PolicySet? = nil, live: Bool = true) async throws -> Decision {
        let set = set ?? engine.activeSet
        return try await run(quarantined: set.isQuarantined(event.type)) {
            engine.decide(event, context: context, guardrails: guardrails, set: set, live: live)
        }
    }

    /// Stops the threads once the work queued before is done.
    public func shutdown() async {
        try? await regular.shutdownGracefully()
        try? await quarantine.shutdownGracefully()
    }
}
