import ArbiterCore
import Foundation

/// What reconciliation stores: the runs, their exceptions as work, and the column mappings saved
/// through the API. Reads Arbiter's side from the outbox.
public protocol ReconciliationStore: Sendable {
    /// The money actions (`credit_memo`, `refund`; answers and account actions are not money)
    /// queued — approved — in [from, to), in (created_at, id) order, read from one snapshot.
    func moneyActions(from: String, to: String, _ row: @escaping @Sendable (MoneyActionRow) throws -> Void) async throws

    /// The open exceptions of a mapping.
    func openExceptions(mapping: String) async throws -> [ReconciliationException]

    /// Records a finished run in one transaction: the run; each exception found, as a new open
    /// exception unless one is open for its mapping and subject (then that one is updated: its
    /// last run, class and reason); the open exceptions `closing` names resolved as `matched`;
    /// and `audit`.
    func record(_ run: ReconciliationRun, exceptions: [ReconciliationException], closing: [String], audit: AuditDraft) async throws

    func run(id: String) async throws -> ReconciliationRun?

    /// Runs, newest first.
    func runs(after: String?, limit: Int) async throws -> Page<ReconciliationRun>

    /// Exceptions in id order (`state`, `mapping`, `run` — first or last found by — filter).
    func exceptions(state: String?, mapping: String?, run: String?, after: String?, limit: Int) async throws -> Page<ReconciliationException>

    func exception(id: String) async throws -> ReconciliationException?

    /// Resolves an open exception in one transaction with what the resolution does to its action
    /// (resend: a dead or delivered action back in line under its key; cancel: a pending or dead
    /// action cancelled), audited. Refuses (not found; conflict when resolved already or when the
    /// action's state does not allow it).
    func resolve(id: String, _ resolution: ReconciliationException.Resolution, by actor: String, comment: String?,
                 now: Date) async throws -> ReconciliationException

    /// Gives an exception an owner (nil: none), audited.
    func assign(id: String, owner: String?, by actor: String, now: Date) async throws -> ReconciliationException

    func mapping(name: String) async throws -> StoredMapping?
    func mappings() async throws -> [StoredMapping]
    /// Saves a mapping (true: new), audited.
    func saveMapping(_ mapping: StoredMapping) async throws -> Bool
    /// Removes a saved mapping (false: none), audited.
    func removeMapping(name: String, by actor: String, now: Date) async throws -> Bool
}
