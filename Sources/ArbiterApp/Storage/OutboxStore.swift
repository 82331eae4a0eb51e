import ArbiterCore
import Foundation

/// The outbox as the dispatcher and operators need it stored. Each account's actions for one
/// target (``OutboxTarget``) form a line in the order they were queued; only the head of a line is due, so an account's
/// actions reach the ERP in order, and a dead head holds its line until an operator acts.
public protocol OutboxStore: Sendable {
    /// Heads of a target's lines due at `now`, skipping the accounts in `busy` (in flight
    /// here), oldest first, at most `limit`.
    func due(target: String, now: Date, skipping busy: Set<String>, limit: Int) async throws -> [PendingAction]

    /// When the earliest waiting retry of a target falls due.
    func nextRetry(target: String) async throws -> Date?

    /// Records an attempt and its effects (the action's new state, an account change a
    /// delivered action makes, the audit entry); several attempts share a commit.
    func record(_ attempt: PreparedAttempt) async throws -> RecordedAttempt

    /// A dead letter back in line, due now, with a fresh set of attempts, audited. Refuses
    /// (not found, or conflict unless dead).
    func retry(id: String, by actor: String, comment: String?, now: Date) async throws

    /// A pending or dead action that will never be sent, audited; its line moves on. Refuses
    /// (not found, or conflict unless pending or dead).
    func cancel(id: String, by actor: String, comment: String, now: Date) async throws

    /// Actions in queue order (`status`, `accountId` and `target` filter), one page.
    func actions(status: String?, accountId: String?, target: String?, after: String?, limit: Int) async throws -> Page<OutboxAction>

    func action(id: String) async throws -> OutboxActionDetail?

    func depth() async throws -> OutboxDepth

    /// At start: actions still waiting (pending or dead) whose target is not the one `routing`
    /// gives their type now are moved to it, with one audit entry saying how many moved where;
    /// how many moved. Answers keep theirs. Written directly (before the committer runs).
    func reroute(_ routing: ActionRouting, audit: @escaping @Sendable (_ moved: [String: Int]) -> AuditDraft) async throws -> Int
}
