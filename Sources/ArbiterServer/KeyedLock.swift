import ArbiterCore

/// One holder at a time per key, waiters served in arrival order. Decisions for one account
/// take its lock from reading the context until their rows are committed, so a decision always
/// sees every earlier decision of the account: 50 concurrent credit requests against a 90-day
/// cap approve exactly what the cap allows. Different accounts never wait for each other.
final class KeyedLock: Sendable {
    /// Present key = held; the array holds its waiters.
    private let waiters = Locked<[String: [CheckedContinuation<Void, Never>]]>([:])

    func acquire(_ key: String) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let acquired = waiters.withLock { held -> Bool in
                if held[key] == nil {
                    held[key] = []
                    return true
                }
                held[key]!.append(continuation)
                return false
            }
            if acquired { continuation.resume() }
        }
    }

    /// Hands the key to the next waiter, or frees it.
    func release(_ key: String) {
        let next = waiters.withLock { held -> CheckedContinuation<Void, Never>? in
            guard var queue = held[key] else { return nil }
            if queue.isEmpty {
                held[key] = nil
                return nil
            }
            let first = queue.removeFirst()
            held[key] = queue
            return first
        }
        next?.resume()
    }

    /// Runs `body` holding the key's lock.
    func withLock<T>(_ key: String, _ body: () async throws -> T) async rethrows -> T {
        await acquire(key)
        defer { release(key) }
        return try await body()
    }
}
