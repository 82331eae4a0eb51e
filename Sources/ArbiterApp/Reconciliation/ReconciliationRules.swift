import ArbiterCore
import Foundation

/// The rules of resolving an exception, the same on every backend.
public enum ReconciliationRules {
    /// Refuses a resolution the exception does not allow: it must still be open; resend and cancel need an action
    /// (an ERP row of no action of Arbiter's can only be accepted), accept needs a comment, and
    /// `matched` is for runs only.
    public static func check(_ exception: ReconciliationException, _ resolution: ReconciliationException.Resolution,
                             comment: String?) throws {
        guard exception.isOpen else {
            throw Refusal.conflict("exception \(exception.id) is resolved already (\(exception.resolution?.rawValue ?? "?") by \(exception.resolvedBy ?? "?"))")
        }
        switch resolution {
        case .resend, .cancel:
            guard exception.actionId != nil else {
                throw Refusal.conflict("exception \(exception.id) is an ERP row Arbiter has no action for (\(exception.subject)); it can only be accepted with a comment")
            }
        case .accept:
            guard let comment, !comment.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw Refusal.invalid("comment", "is required to accept an exception (say why it is right as it is)")
            }
        case .matched:
            throw Refusal.invalid("resolution", "must be resend, cancel or accept (matched is what a later run records)")
        }
    }

    /// The audit entry's data for a resolution.
    public static func auditData(_ exception: ReconciliationException, _ resolution: ReconciliationException.Resolution,
                                 comment: String?) -> JSONValue {
        .object(["resolution": .string(resolution.rawValue), "class": .string(exception.class), "mapping": .string(exception.mapping),
                 "subject": .string(exception.subject), "action_id": exception.actionId.map(JSONValue.string) ?? .null,
                 "comment": comment.map(JSONValue.string) ?? .null])
    }
}
