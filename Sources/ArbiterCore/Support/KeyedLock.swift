/// One holder at a time per key (an account id), waiting in arrival order; different keys
/// never wait for each other. Tasks suspend while they wait: no thread is blocked.
public final class KeyedLock: Sendable {
    /// For each held key, the tasks waiting for it, oldest first.
    private let waiting = Locked<[String: [CheckedContinuation<Void, Never>]]>([:])

    public init() {}

    /// Runs `body` holding `key`.
    public func withLock<T: Sendable>(_ key: String, _ body: () async throws -> T) async rethrows -> T {
        await acquire(key)
        defer { release(key) }
        return try await body()
    }

    private func acquire(_ key: String) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let free = waiting.withLock { held -> Bool in
                if held[key] == nil {
                    held[key] = []
                    return true
                }
                held[key]!.append(continuation)
                return false
            }
            if free { continuation.resume() }
        }
    }

    /// Hands the key to the oldest waiter, or frees it.
    private func release(_ key: String) {
        let next = waiting.withLock { held -> CheckedContinuation<Void, Never>? in
            guard var queue = held[key], !queue.isEmpty else {
                held[key] = nil
                return nil
            }
            let first = queue.removeFirst()
            held[key] = queue
            return first
        }
        next?.resume()
    }
}
