import ArbiterCore

/// The queue in front of a backend's group commits: work submitted from any task waits here,
/// and one writer takes it in batches — everything that arrived while the previous commit was
/// in flight, up to `maxBatch` — in submission order. A lone item is taken at once (a batch of
/// one): batching adds no latency when the service is idle.
public final class CommitQueue<Item: Sendable>: Sendable {
    private struct State {
        var pending: [Item] = []
        var wakeup: CheckedContinuation<Void, Never>?
        var stopping = false
    }

    private let maxBatch: Int
    private let state = Locked(State())

    public init(maxBatch: Int) {
        self.maxBatch = max(1, maxBatch)
    }

    /// How many items wait for the next batch.
    public var count: Int { state.withLock { $0.pending.count } }

    /// Adds `item` and wakes the writer; false (nothing added) once the queue is stopping.
    public func append(_ item: Item) -> Bool {
        let (accepted, wakeup) = state.withLock { s -> (Bool, CheckedContinuation<Void, Never>?) in
            guard !s.stopping else { return (false, nil) }
            s.pending.append(item)
            defer { s.wakeup = nil }
            return (true, s.wakeup)
        }
        wakeup?.resume()
        return accepted
    }

    /// Refuses new items; ``nextBatch()`` returns nil once the queued ones are taken.
    public func stop() {
        let wakeup = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.stopping = true
            defer { s.wakeup = nil }
            return s.wakeup
        }
        wakeup?.resume()
    }

    /// The next batch, waiting for one; nil when stopped and empty. One writer only.
    public func nextBatch() async -> [Item]? {
        while true {
            let taken = state.withLock { s -> [Item]? in
                guard !s.pending.isEmpty else { return nil }
                let count = min(s.pending.count, maxBatch)
                defer { s.pending.removeFirst(count) }
                return Array(s.pending.prefix(count))
            }
            if let taken { return taken }
            if state.withLock({ $0.stopping }) { return nil }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { s -> Bool in
                    if !s.pending.isEmpty || s.stopping { return true }
                    s.wakeup = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        }
    }
}
