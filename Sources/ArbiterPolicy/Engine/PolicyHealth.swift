import ArbiterCore
import Foundation
import Synchronization

/// How one policy version behaves in live evaluations (the active set and shadow versions),
/// and its circuit breaker.
///
/// A policy that hits a limit (instruction budget, memory, time) costs up to its time limit
/// on every event of its types. After `threshold` such evaluations in a row its breaker
/// opens: its events get its verdict "review in policy-errors" at once, without running it,
/// until an operator resets the breaker or another version is activated. Meanwhile a policy
/// whose last evaluation hit a limit or took more than half its time limit is *quarantined*:
/// its events are evaluated on a lane of their own (``PolicyWorkers``), so they queue only
/// behind each other, never in front of other events.
public final class PolicyHealth: Sendable {
    public let name: String
    public let version: String

    /// Why and when the breaker opened.
    public struct Opened: Sendable, Hashable {
        public let at: Date
        /// Limit errors in a row when it opened.
        public let errors: Int
        public let lastError: String
    }

    private let limitErrorsInARow = Atomic<Int>(0)
    private let quarantine = Atomic<Bool>(false)
    private let open = Atomic<Bool>(false)
    private let opened = Locked<Opened?>(nil)

    init(name: String, version: String) {
        self.name = name
        self.version = version
    }

    /// Whether the breaker is open: the policy is not run.
    public var isOpen: Bool { open.load(ordering: .relaxed) }

    /// Whether its events go to the quarantine lane.
    public var isQuarantined: Bool { quarantine.load(ordering: .relaxed) }

    public var openedState: Opened? { opened.withLock { $0 } }

    /// An evaluation that ended within the limits (an ordinary error counts as ended).
    func ended(slow: Bool) {
        if limitErrorsInARow.load(ordering: .relaxed) != 0 { limitErrorsInARow.store(0, ordering: .relaxed) }
        if quarantine.load(ordering: .relaxed) != slow { quarantine.store(slow, ordering: .relaxed) }
    }

    /// An evaluation that hit a limit. Returns how the breaker opened when this one opened it.
    func hitLimit(_ error: String, threshold: Int) -> Opened? {
        quarantine.store(true, ordering: .relaxed)
        let errors = limitErrorsInARow.add(1, ordering: .relaxed).newValue
        guard threshold > 0, errors >= threshold else { return nil }
        return opened.withLock { state -> Opened? in
            guard state == nil else { return nil }
            let now = Opened(at: Date(), errors: errors, lastError: error)
            state = now
            open.store(true, ordering: .relaxed)
            return now
        }
    }

    /// Closes the breaker and forgets the errors (an operator's reset, or a new activation).
    /// Returns whether it was open.
    @discardableResult
    func reset() -> Bool {
        limitErrorsInARow.store(0, ordering: .relaxed)
        quarantine.store(false, ordering: .relaxed)
        return opened.withLock { state in
            defer { state = nil; open.store(false, ordering: .relaxed) }
            return state != nil
        }
    }

    /// The verdict for an event while the breaker is open: review, never approve.
    func suspendedResult(file: String) -> PolicyResult {
        let last = openedState.map { " (last: \($0.lastError))" } ?? ""
        return .failure(name: name, version: version, error: "\(file): suspended by its circuit breaker after \(openedState?.errors ?? 0) evaluations in a row hit a limit\(last); an operator resets it (POST /v1/policies/\(name)/breaker/reset) or activates another version")
    }
}
