import ArbiterCore
import Foundation

/// A console session as stored: by the SHA-256 of its token (the token itself is only in the
/// browser's cookie), for the API key whose secret hashes to `keyHash`.
public struct ConsoleSession: Sendable, Equatable {
    public let keyHash: String
    public let csrf: String
    public let createdAt: Date
    public let expiresAt: Date

    public init(keyHash: String, csrf: String, createdAt: Date, expiresAt: Date) {
        self.keyHash = keyHash
        self.csrf = csrf
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}

/// Console sessions. Bounded: at most `perKey` per API key and `total` in all; adding one
/// beyond either ends the oldest (of that key, or of all once the expired ones are gone), so a
/// key cannot fill the store with sessions. On a backend instances share, a session made
/// through one is found by all.
public protocol SessionStore: Sendable {
    func add(tokenHash: String, _ session: ConsoleSession, perKey: Int, total: Int) async throws
    /// The live session, or nil (unknown or expired at `now`).
    func session(tokenHash: String, now: Date) async throws -> ConsoleSession?
    func remove(tokenHash: String) async throws
}

/// Sessions in this process's memory: what one instance on its own needs.
public final class MemorySessionStore: SessionStore {
    private let sessions = Locked<[String: ConsoleSession]>([:])

    public init() {}

    public func add(tokenHash: String, _ session: ConsoleSession, perKey: Int, total: Int) async throws {
        sessions.withLock { sessions in
            let mine = sessions.filter { $0.value.keyHash == session.keyHash }
            if mine.count >= perKey, let oldest = mine.min(by: { $0.value.createdAt < $1.value.createdAt }) {
                sessions.removeValue(forKey: oldest.key)
            }
            if sessions.count >= total {
                sessions = sessions.filter { $0.value.expiresAt > session.createdAt }
                if sessions.count >= total, let oldest = sessions.min(by: { $0.value.createdAt < $1.value.createdAt }) {
                    sessions.removeValue(forKey: oldest.key)
                }
            }
            sessions[tokenHash] = session
        }
    }

    public func session(tokenHash: String, now: Date) async throws -> ConsoleSession? {
        sessions.withLock { sessions in
            guard let session = sessions[tokenHash] else { return nil }
            guard session.expiresAt > now else {
                sessions.removeValue(forKey: tokenHash)
                return nil
            }
            return session
        }
    }

    public func remove(tokenHash: String) async throws {
        _ = sessions.withLock { $0.removeValue(forKey: tokenHash) }
    }
}
