import Foundation

/// What a reviewer asks to do with an item.
public enum ReviewCommand: Sendable, Hashable {
    case claim
    case release
    case approve(comment: String?, amountMinor: Int64?)
    case reject(comment: String)
    /// Admin only: give the item's claim to another reviewer.
    case assign(to: Reviewer, comment: String?)

    /// The history and audit name of the command.
    public var action: String {
        switch self {
        case .claim: "claimed"
        case .release: "released"
        case .approve: "approved"
        case .reject: "rejected"
        case .assign: "reassigned"
        }
    }
}
