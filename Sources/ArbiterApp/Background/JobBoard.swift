import ArbiterCore

/// The jobs of one kind running now (exports, large backtests): how far each has got, as the
/// job reports it, and a way to wait for one to end — no polling. Admits at most `limit` at a
/// time: each holds a read snapshot and CPU.
public final class JobBoard: Sendable {
    private struct State {
        var progress: [String: Int] = [:]
        var waiters: [String: [Int: AsyncStream<Never>.Continuation]] = [:]
        var nextWaiter = 0
    }

    private let state = Locked(State())
    let limit: Int

    public init(limit: Int) {
        self.limit = limit
    }

    /// Admits job `id`; when `limit` jobs run already, returns their ids and admits nothing.
    func admit(_ id: String) -> [String]? {
        state.withLock { state in
            guard state.progress.count < limit else { return state.progress.keys.sorted() }
            state.progress[id] = 0
            return nil
        }
    }

    /// The job's progress so far (rows written, events evaluated).
    func report(_ id: String, progress: Int) {
        state.withLock { state in
            if state.progress[id] != nil { state.progress[id] = progress }
        }
    }

    /// The progress of job `id`, or nil when it is not running.
    func progress(of id: String) -> Int? {
        state.withLock { $0.progress[id] }
    }

    /// The job ended (done, failed or interrupted): whoever waits for it goes on.
    func end(_ id: String) {
        let waiters = state.withLock { state in
            state.progress[id] = nil
            return state.waiters.removeValue(forKey: id) ?? [:]
        }
        for waiter in waiters.values { waiter.finish() }
    }

    /// Returns when job `id` has ended, or after `timeout`, or when the caller is cancelled.
    func wait(for id: String, upTo timeout: Duration) async {
        let (ended, continuation) = AsyncStream.makeStream(of: Never.self)
        let token = state.withLock { state -> Int? in
            guard state.progress[id] != nil else { return nil }
            state.nextWaiter += 1
            state.waiters[id, default: [:]][state.nextWaiter] = continuation
            return state.nextWaiter
        }
        guard let token else { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { for await _ in ended {} }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
        state.withLock { _ = $0.waiters[id]?.removeValue(forKey: token) }
    }
}
