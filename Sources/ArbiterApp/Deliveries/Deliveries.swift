import ArbiterCore
import Foundation

/// What operators do with ERP delivery: watch the outbox, retry dead letters, cancel actions
/// that must never reach the ERP. A change waits for the dispatcher to keep away from the
/// action (never two writers of one action's state).
public struct Deliveries: Sendable {
    let store: any OutboxStore
    let dispatcher: Dispatcher

    public init(store: any OutboxStore, dispatcher: Dispatcher) {
        self.store = store
        self.dispatcher = dispatcher
    }

    public static let statuses = ["pending", "delivered", "dead", "cancelled"]

    public func actions(status: String?, accountId: String?, after: String?, limit: Int) async throws -> Page<OutboxAction> {
        try await store.actions(status: status, accountId: accountId, after: after, limit: limit)
    }

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

    private func change(_ id: String, _ body: () async throws -> Void) async throws {
        guard try await dispatcher.whileHeld(id, body) != nil else {
            throw Refusal.conflict("action \(id) is being sent to the ERP right now; look again in a moment", title: "Being delivered")
        }
        dispatcher.notify()
    }
}
