import Foundation

/// Where a review item stands. `open`, `claimed` and `escalated` are waiting for a reviewer;
/// `approved` and `rejected` are final.
public enum ReviewState: String, Sendable, CaseIterable {
    case open
    case claimed
    case escalated
    case approved
    case rejected

    public var isDecided: Bool { self == .approved || self == .rejected }

    /// The states of items still waiting for a reviewer.
    public static let waiting: [ReviewState] = [.open, .claimed, .escalated]
}
