import Dispatch
import Foundation

/// Starts a child process and knows when it has exited, through its termination handler.
///
/// `Process.waitUntilExit()` spins a run loop on the calling thread; called from a thread of
/// the concurrency pool while the suites run in parallel it can park for good on a child that
/// has already exited (a known trap on Linux: swiftlang/swift-corelibs-foundation#5153 and
/// others). A CI run lost its five-minute time limit to it. The handler is set before `run()`
/// so a child that exits at once is not missed.
final class ChildExit: @unchecked Sendable {
    private let group = DispatchGroup()

    init(running process: Process) throws {
        group.enter()
        process.terminationHandler = { [group] _ in group.leave() }
        do {
            try process.run()
        } catch {
            group.leave()
            throw error
        }
    }

    /// Blocks until the child has exited or `timeout` passed; whether it exited.
    @discardableResult
    func wait(timeout: Duration = .seconds(30)) -> Bool {
        let (seconds, attoseconds) = timeout.components
        let nanoseconds = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
        return group.wait(timeout: .now() + .nanoseconds(nanoseconds)) == .success
    }

    /// Suspends until the child has exited (cancellation does not end the wait: the suites'
    /// time limits bound it).
    func exited() async {
        await withCheckedContinuation { continuation in
            group.notify(queue: .global()) { continuation.resume() }
        }
    }
}
