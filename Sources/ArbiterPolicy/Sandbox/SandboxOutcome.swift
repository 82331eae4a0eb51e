import ArbiterCore
import CLuaSandbox
import Glibc

/// How one evaluation inside the sandbox ended.
enum SandboxOutcome {
    /// The policy returned a well-formed decision (actions not yet validated).
    case decided(outcome: PolicyOutcome, queue: String?, slaSeconds: Int64?, approvalsRequired: Int?,
                 reasons: [String], actions: [[String: JSONValue]], log: [String])
    /// The policy failed. `poisoned` when a limit was hit: the state is then replaced.
    case failed(message: String, poisoned: Bool, log: [String])
}
