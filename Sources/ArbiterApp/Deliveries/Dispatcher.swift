import ArbiterCore
import Foundation
import Logging

/// Delivers outbox actions through a connector: several accounts at once, each account's
/// actions strictly one after the other in the order they were queued.
///
/// It wakes when told new actions were committed (``notify()``), when a delivery finishes,
/// and when the earliest waiting retry falls due; it never polls busily. Each attempt is
/// recorded (``OutboxStore/record(_:)``: many deliveries share one durable commit) before the
/// account's next action is sent. A crash between sending and recording leaves the action
/// pending: it is sent again after a restart with the same idempotency key (at least once,
/// never lost).
public final class Dispatcher: Sendable {
    let store: any OutboxStore
    /// The target whose lines it delivers (``OutboxTarget``).
    public let target: String
    public let connector: (any ERPConnector)?
    public let settings: DeliverySettings
    /// Told about every recorded attempt (metrics).
    let observe: @Sendable (PendingAction, DeliveryAttempt, RecordedAttempt) -> Void
    let logger = Logger(label: "arbiter.delivery")

    private struct State {
        /// Accounts with an action in flight: their next action waits.
        var busyAccounts: Set<String> = []
        /// Actions being delivered right now: operators cannot change them.
        var inFlight: Set<String> = []
        /// Actions an operator is changing right now: not sent.
        var held: Set<String> = []
        /// Actions an operator changed since they may have been read into the ready list: a
        /// copy read before the change must not be sent (the next read sees the change).
        var changed: Set<String> = []
        var running = 0
        var stopping = false
        /// Attempts in a row that could not be recorded (the database refused: a full disk).
        var unrecorded = 0
        /// No action is sent before this: recording failed, and sending again at once would
        /// only repeat the same request in a tight loop.
        var pausedUntil: ContinuousClock.Instant?
    }

    private let state = Locked(State())
    private let wake = WakeSignal()

    public init(store: any OutboxStore, target: String = OutboxTarget.erp, connector: (any ERPConnector)?, settings: DeliverySettings,
                observe: @escaping @Sendable (PendingAction, DeliveryAttempt, RecordedAttempt) -> Void = { _, _, _ in }) {
        self.store = store
        self.target = target
        self.connector = connector
        self.settings = settings
        self.observe = observe
    }

    /// New actions were committed (or a dead letter was retried): look now.
    public func notify() { wake.signal() }

    /// Stops taking new work; deliveries in flight finish and are recorded.
    public func stop() {
        state.withLock { $0.stopping = true }
        wake.signal()
    }

    /// Runs `body` (an operator's retry or cancel of `id`) while the dispatcher keeps away from
    /// that action. Nil, without running `body`, when the action is being delivered right now.
    public func whileHeld<T: Sendable>(_ id: String, _ body: () async throws -> T) async throws -> T? {
        let held = state.withLock { state -> Bool in
            guard !state.inFlight.contains(id) else { return false }
            state.held.insert(id)
            state.changed.insert(id)
            return true
        }
        guard held else { return nil }
        defer {
            state.withLock { _ = $0.held.remove(id) }
            wake.signal()
        }
        return try await body()
    }

    public func run() async {
        guard let connector else {
            // Nothing to deliver with: actions wait in the outbox (and /readyz says so).
            while !state.withLock({ $0.stopping }) { await wake.wait(upTo: .seconds(3600)) }
            return
        }
        await withDiscardingTaskGroup { group in
            var ready: [PendingAction] = []
            while !state.withLock({ $0.stopping }) {
                if let until = state.withLock({ $0.pausedUntil }), until > .now {
                    ready = []   // read again after the pause: an operator may have changed them
                    await wake.wait(upTo: until - .now)
                    continue
                }
                var free = settings.concurrency - state.withLock { $0.running }
                if free > 0 && ready.isEmpty {
                    let busy = state.withLock { $0.busyAccounts }
                    do {
                        ready = try await store.due(target: target, now: Date(), skipping: busy, limit: max(settings.concurrency * 8, 256))
                    } catch {
                        logger.error("reading the outbox failed", metadata: ["error": "\(error)"])
                    }
                }
                while free > 0, !ready.isEmpty {
                    let action = ready.removeFirst()
                    state.withLock { state in
                        state.busyAccounts.insert(action.accountId)
                        state.running += 1
                    }
                    free -= 1
                    group.addTask { await self.deliver(action, through: connector) }
                }
                await wake.wait(upTo: await idleWait(nothingReady: ready.isEmpty))
            }
        }
    }

    /// How long to sleep when nothing signals: until the next retry is due if nothing is
    /// running or ready, else a safety net of one second.
    private func idleWait(nothingReady: Bool) async -> Duration {
        guard nothingReady, state.withLock({ $0.running == 0 }) else { return .seconds(1) }
        guard let next = try? await store.nextRetry(target: target) else { return .seconds(5) }
        let seconds = min(max(next.timeIntervalSinceNow, 0.005), 5)
        return .milliseconds(Int64(seconds * 1000))
    }

    private func deliver(_ action: PendingAction, through connector: any ERPConnector) async {
        defer {
            state.withLock { state in
                state.busyAccounts.remove(action.accountId)
                state.inFlight.remove(action.id)
                state.running -= 1
            }
            wake.signal()
        }
        // An operator may have cancelled it since it was read: then this copy is stale and the
        // next read of the outbox decides (no database read per action on the common path).
        let claimed = state.withLock { state -> Bool in
            guard !state.held.contains(action.id), state.changed.remove(action.id) == nil else { return false }
            state.inFlight.insert(action.id)
            return true
        }
        guard claimed else { return }
        let attempt = await connector.deliver(action)
        let prepared = PreparedAttempt(action: action, attempt: attempt, settings: settings, connector: connector.name,
                                       actor: target == OutboxTarget.erp ? "erp" : target)
        do {
            let recorded = try await store.record(prepared)
            state.withLock { state in
                if state.unrecorded != 0 { state.unrecorded = 0 }
            }
            observe(action, attempt, recorded)
        } catch {
            // Not recorded (shutting down, or the database failed): still pending, so it is sent
            // again later under the same idempotency key — after a pause that doubles with each
            // failure in a row (1 s up to 60 s), not in a tight loop against a full disk.
            let pause = state.withLock { state -> Duration in
                state.unrecorded += 1
                let pause = Duration.seconds(min(60, 1 << min(state.unrecorded - 1, 6)))
                state.pausedUntil = .now + pause
                return pause
            }
            logger.error("delivery attempt not recorded; delivery paused", metadata: [
                "action": "\(action.id)", "error": "\(error)", "pause_seconds": "\(pause.components.seconds)"])
        }
    }
}
