import ArbiterCore
import Dispatch
import Foundation
import Glibc

/// A child process the tests start (the `arbiter` binary, the receiver script): spawned with
/// `posix_spawn`, its exit waited for by a thread of its own.
///
/// Not Foundation's `Process`, for two faults it has on Linux with this toolchain: `run()` can
/// crash reading `/proc/self/fd` (a buffer over-read, swiftlang/swift-corelibs-foundation#5472;
/// a CI run died of it), and `waitUntilExit()` spins a run loop that can park for good on a
/// thread of the concurrency pool (swiftlang/swift-corelibs-foundation#5153 and others).
final class ChildProcess: @unchecked Sendable {
    let pid: pid_t
    private let group = DispatchGroup()
    /// The wait status, once it has exited.
    private let waitStatus = Locked<Int32?>(nil)

    /// Starts `executable`. Standard output and error go to `output` (a descriptor the caller
    /// keeps; /dev/null when nil), standard input is /dev/null. `environment` is the child's
    /// whole environment (the test process's when nil). Signals start unblocked and at their
    /// defaults, whatever the test runner's threads had.
    init(_ executable: URL, _ arguments: [String], environment: [String: String]? = nil, output: Int32? = nil) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        if let output {
            posix_spawn_file_actions_adddup2(&actions, output, 1)
            posix_spawn_file_actions_adddup2(&actions, output, 2)
        } else {
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([executable.path] + arguments).map { strdup($0) } + [nil]
        let envp = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, executable.path, &actions, &attributes, argv, envp)
        guard status == 0 else { throw TestFailure("cannot start \(executable.path): \(String(cString: strerror(status)))") }
        self.pid = pid
        group.enter()
        let thread = Thread { [group, waitStatus, pid] in
            var status: Int32 = 0
            while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
            waitStatus.withLock { $0 = status }
            group.leave()
        }
        thread.start()
    }

    var isRunning: Bool { waitStatus.withLock { $0 } == nil }

    /// The exit code, or the number of the signal that ended it; nil while it runs.
    var exitStatus: Int32? {
        waitStatus.withLock { $0 }.map { status in status & 0x7f == 0 ? (status >> 8) & 0xff : status & 0x7f }
    }

    func signal(_ number: Int32) {
        if isRunning { kill(pid, number) }
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

    /// A file for a child's output: created empty, close-on-exec (so no other child inherits
    /// it), append-only.
    static func logFile(_ url: URL) throws -> Int32 {
        let fd = open(url.path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw TestFailure("cannot open \(url.path)") }
        return fd
    }
}
