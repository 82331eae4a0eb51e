import Foundation

/// What one attempt to hand an action to the ERP came to.
public enum AttemptResult: Sendable, Hashable {
    /// The ERP has it (2xx, or 409 for a key it already has), with its document reference if it sent one.
    case delivered(reference: String?)
    /// Worth trying again (408, 429, 5xx, time-out, refused or reset connection); `after` is the
    /// ERP's own Retry-After when it sent one.
    case retry(after: Duration?)
    /// The ERP refused it for good (other 4xx): retrying would not help.
    case rejected

    /// Classifies an HTTP response by status code.
    public static func http(status: Int, reference: String?, retryAfter: Duration?) -> AttemptResult {
        switch status {
        case 200..<300, 409: .delivered(reference: reference)
        case 408, 429, 500..<600: .retry(after: retryAfter)
        default: .rejected
        }
    }
}
