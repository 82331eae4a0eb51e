import ArbiterCore
import Foundation

/// What operators do with delivery: watch the outbox, retry dead letters, cancel actions that
/// must never be sent. A change waits for the dispatchers to keep away from the action (never
/// two writers of one action's state).
public struct Deliveries: Sendable {
    let store: any OutboxStore
    /// One per target (``OutboxTarget``).
    let dispatchers: [Dispatcher]

    public init(store: any OutboxStore, dispatchers: [Dispatcher]) {
        self.store = store
        self.dispatchers = dispatchers
    }

    public static let statuses = ["pending", "delivered", "dead", "cancelled"]

    /// The targets actions go to (each dispatcher's).
    public var targets: [String] { dispatchers.map(\.target) }

    public func actions(status: String?, accountId: String?, target: String? = nil, after: String?, limit: Int) async throws
        -> Page<OutboxAction> {
        try await store.actions(status: status, accountId: accountId, target: target, after: after, limit: limit)
    }

    /// Actions by target and status, with the oldest pending one's time.
    public func depth() async throws -> OutboxDepth { try await store.depth() }

    public func action(_ id: String) async throws -> OutboxActionDetail {
        guard let action = try await store.action(id: id) else { throw Refusal.notFound("no outbox action with id '\(id)'") }
        return action
    }

    /// A dead letter goes back in line, due now.
    public func retry(_ id: String, by actor: String, comment: String?) async throws {
        try await change(id) { try await store.retry(id: id, by: actor, comment: comment, now: Date()) }
    }

    /// A pending or dead action is never sent; the account's line moves on.
    public func cancel(_ id: String, by actor: String, comment: String) async throws {
        try await change(id) { try await store.cancel(id: id, by: actor, comment: comment, now: Date()) }
    }

    /// Runs `body` — a change of the action's state — while every dispatcher keeps away from the
    /// action (only the one of its target could be sending it), then wakes them. Refuses (409)
    /// while it is being sent.
    public func change(_ id: String, _ body: () async throws -> Void) async throws {
        func held(_ remaining: ArraySlice<Dispatcher>) async throws -> Void? {
            guard let first = remaining.first else { return try await body() }
            return try await first.whileHeld(id) { try await held(remaining.dropFirst()) } ?? nil
        }
        guard try await held(dispatchers[...]) != nil else {
            throw Refusal.conflict("action \(id) is being sent right now; look again in a moment", title: "Being delivered")
        }
        for dispatcher in dispatchers { dispatcher.notify() }
    }
}
