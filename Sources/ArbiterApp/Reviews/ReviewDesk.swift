import ArbiterCore
import Foundation

/// The review desk: what reviewers do to items, shared by the JSON API and the console so both
/// enforce the same controls (``ReviewRules``) and record the same history, audit and metrics.
public final class ReviewDesk: Sendable {
    let store: any ReviewStore
    let keys: any KeyStore
    public let settings: ReviewSettings
    let metrics: ServiceMetrics
    /// Which target each approved action is queued for.
    let routing: ActionRouting
    /// Called after a final step queued actions (for the ERP, or an answer to the requester).
    let onQueued: @Sendable () -> Void

    public init(store: any ReviewStore, keys: any KeyStore, settings: ReviewSettings, metrics: ServiceMetrics,
                routing: ActionRouting = .single, onQueued: @escaping @Sendable () -> Void = {}) {
        self.routing = routing
        self.store = store
        self.keys = keys
        self.settings = settings
        self.metrics = metrics
        self.onQueued = onQueued
    }

    /// Applies a command for `caller`; throws the ``Refusal`` of a control (forbidden), of the
    /// item's state (conflict), of the request (invalid), or for no such item.
    @discardableResult
    public func perform(_ command: ReviewCommand, on id: String, by caller: ApiKey) async throws -> ReviewDone {
        guard let done = try await store.perform(command, on: id, by: caller.reviewer, now: Date(), settings: settings,
                                                 routing: routing) else {
            throw Self.notFound(id)
        }
        metrics.reviewed(done, action: command.action)
        if done.state.isDecided { onQueued() }
        return done
    }

    /// The reviewer an admin assigns an item to: a live reviewer or admin key.
    public func assignee(_ id: String) async throws -> Reviewer {
        guard let key = try await keys.liveKey(id: id), key.role == .reviewer || key.role == .admin else {
            throw Refusal.invalid("reviewer", "must be the id of a live reviewer or admin key")
        }
        return key.reviewer
    }

    public func item(_ id: String) async throws -> ReviewItemDetail {
        guard let item = try await store.item(id: id, now: Date()) else { throw Self.notFound(id) }
        return item
    }

    /// One page of a queue's items in `states`, oldest first.
    public func items(queue: String, states: [ReviewState], after: String?, limit: Int) async throws -> Page<ReviewItemSummary> {
        try await store.items(queue: queue, states: states, after: after, limit: limit, now: Date())
    }

    public func queues() async throws -> [QueueSummary] {
        try await store.queues(now: Date(), settings: settings)
    }

    /// Every key's name by id, for showing people by name.
    public func keyNames() async throws -> [String: String] {
        try await keys.names()
    }

    /// Releases expired claims and escalates items past their SLA (a chore of the background work).
    public func sweep(now: Date = Date()) async throws -> SweepResult {
        let result = try await store.sweep(now: now, settings: settings, limit: 500)
        metrics.swept(result)
        return result
    }

    static func notFound(_ id: String) -> Refusal {
        .notFound("no review item with id '\(id)'")
    }
}
