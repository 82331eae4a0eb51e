import ArbiterCore
import Foundation

/// What a store writes for one permitted reviewer command besides the item's new state: the
/// history row's comment and assignee, the approvals counted, and the audit entry's data.
/// Every backend writes these, from here.
public struct ReviewStep: Sendable {
    /// The reviewer's comment (nil when blank).
    public let comment: String?
    /// Reassignments: the new claimer.
    public let assignee: String?
    /// Approvals given once this command is done.
    public let approvalsGiven: Int64
    /// Whether this command gave the item its final outcome.
    public let final: Bool

    public init(_ command: ReviewCommand, on item: ReviewItem, transition: ReviewTransition) {
        var comment: String?
        var assignee: String?
        switch command {
        case .approve(let text, _): comment = text
        case .reject(let text): comment = text
        case .assign(let target, let text): comment = text; assignee = target.id
        case .claim, .release: break
        }
        self.comment = comment.flatMap { $0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? nil : $0 }
        self.assignee = assignee
        approvalsGiven = Int64(item.approvals.count + (transition.approval == nil ? 0 : 1))
        final = transition.state.isDecided
    }

    /// The `review.<action>` audit entry's data.
    public func auditData(item: ReviewItem, transition: ReviewTransition) -> JSONValue {
        var data: [String: JSONValue] = [
            "queue": .string(item.queue), "state": .string(transition.state.rawValue),
            "comment": comment.map(JSONValue.string) ?? .null,
        ]
        if let assignee { data["assignee"] = .string(assignee) }
        if let approval = transition.approval {
            data["amount_minor"] = approval.amountMinor.map(JSONValue.int) ?? .null
            data["approvals_given"] = .int(approvalsGiven)
            data["approvals_required"] = .int(Int64(item.approvalsRequired))
            data["final"] = .bool(final)
        }
        if let actions = transition.approvedActions { data["actions"] = .array(actions) }
        return .object(data)
    }
}
