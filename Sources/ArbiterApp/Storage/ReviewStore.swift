import ArbiterCore
import Foundation

/// Review items as the use cases need them stored. Each command is one unit of work: the
/// rules (``ReviewRules``) are checked against the item as it is inside it, so two reviewers
/// acting at once cannot both pass a control.
public protocol ReviewStore: Sendable {
    /// Applies a reviewer's command: checks the rules, updates the item, records the history
    /// step and the audit entry, and on the final approval queues the approved actions for the
    /// ERP. Nil when there is no such item; throws the rules' ``Refusal`` (nothing is written).
    /// `routing` says which target each approved action is queued for.
    func perform(_ command: ReviewCommand, on id: String, by reviewer: Reviewer, now: Date,
                 settings: ReviewSettings, routing: ActionRouting) async throws -> ReviewDone?

    /// Releases expired claims and escalates items past their SLA (at most `limit` of each),
    /// each with a history step and an audit entry by `system`.
    func sweep(now: Date, settings: ReviewSettings, limit: Int) async throws -> SweepResult

    /// Every queue with waiting items, and every configured queue (with zero counts).
    func queues(now: Date, settings: ReviewSettings) async throws -> [QueueSummary]

    /// One page of a queue's items in `states`, oldest first, after the cursor `after`.
    func items(queue: String, states: [ReviewState], after: String?, limit: Int, now: Date) async throws -> Page<ReviewItemSummary>

    /// One item, whole.
    func item(id: String, now: Date) async throws -> ReviewItemDetail?
}
