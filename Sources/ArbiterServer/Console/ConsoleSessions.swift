import ArbiterApp
import ArbiterCore
import Foundation
import HTTPTypes
import Hummingbird
import Mustache

/// Console sessions: random tokens (only their SHA-256 is kept) mapped to the key's hash and
/// the session's CSRF token, for `lifetimeSeconds`. Bounded: at most `limits.perKey` per API
/// key and `limits.total` in all; signing in beyond either ends the oldest session (of that key,
/// or of all once the expired ones are gone), so a key cannot fill the memory with sessions.
final class ConsoleSessions: Sendable {
    struct Session: Sendable {
        let keyHash: String
        let csrf: String
        let created: UInt64
        let expires: Date
    }

    static let lifetimeSeconds: TimeInterval = 8 * 3600
    let limits: ConsoleSessionLimits
    private let state = Locked<(sessions: [String: Session], created: UInt64)>(([:], 0))

    init(limits: ConsoleSessionLimits = ConsoleSessionLimits()) { self.limits = limits }

    func create(keyHash: String) -> String {
        let token = Self.randomToken()
        let csrf = Self.randomToken()
        state.withLock { state in
            state.created += 1
            let now = Date()
            let mine = state.sessions.filter { $0.value.keyHash == keyHash }
            if mine.count >= limits.perKey, let oldest = mine.min(by: { $0.value.created < $1.value.created }) {
                state.sessions.removeValue(forKey: oldest.key)
            }
            if state.sessions.count >= limits.total {
                state.sessions = state.sessions.filter { $0.value.expires > now }
                if state.sessions.count >= limits.total, let oldest = state.sessions.min(by: { $0.value.created < $1.value.created }) {
                    state.sessions.removeValue(forKey: oldest.key)
                }
            }
            state.sessions[sha256Hex(Array(token.utf8))] = Session(keyHash: keyHash, csrf: csrf, created: state.created,
                                                                  expires: now.addingTimeInterval(Self.lifetimeSeconds))
        }
        return token
    }

    func session(_ token: String) -> Session? {
        let key = sha256Hex(Array(token.utf8))
        return state.withLock { state in
            guard let session = state.sessions[key] else { return nil }
            guard session.expires > Date() else {
                state.sessions.removeValue(forKey: key)
                return nil
            }
            return session
        }
    }

    func remove(_ token: String) {
        _ = state.withLock { $0.sessions.removeValue(forKey: sha256Hex(Array(token.utf8))) }
    }

    /// 32 random bytes from the system's CSPRNG, as hex.
    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return Hex.encode((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }

    /// Compares two tokens in time independent of where they differ.
    static func same(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count, !x.isEmpty else { return false }
        var difference: UInt8 = 0
        for i in x.indices { difference |= x[i] ^ y[i] }
        return difference == 0
    }
}
