import ArbiterCore
import Foundation

/// What a permitted review command did, for the response and the metrics.
public struct ReviewDone: Sendable {
    public let reviewId: String
    public let queue: String
    public let state: ReviewState
    /// Seconds from the item's creation to its final outcome, when this command gave it.
    public let secondsToDecision: Double?

    public init(reviewId: String, queue: String, state: ReviewState, secondsToDecision: Double?) {
        self.reviewId = reviewId
        self.queue = queue
        self.state = state
        self.secondsToDecision = secondsToDecision
    }
}
