import ArbiterApp
import ArbiterCore
import Foundation

/// Console sessions: random tokens, of which only the SHA-256 is stored (``SessionStore``),
/// each mapped to the key's hash and the session's CSRF token, for `lifetimeSeconds`, within
/// the limits (``ConsoleSessionLimits``).
struct ConsoleSessions: Sendable {
    static let lifetimeSeconds: TimeInterval = 8 * 3600
    let store: any SessionStore
    let limits: ConsoleSessionLimits

    /// A new session for the key whose secret hashes to `keyHash`; its token.
    func create(keyHash: String) async throws -> String {
        let token = Self.randomToken()
        let now = Date()
        try await store.add(tokenHash: sha256Hex(Array(token.utf8)),
                            ConsoleSession(keyHash: keyHash, csrf: Self.randomToken(), createdAt: now,
                                           expiresAt: now.addingTimeInterval(Self.lifetimeSeconds)),
                            perKey: limits.perKey, total: limits.total)
        return token
    }

    func session(_ token: String) async throws -> ConsoleSession? {
        try await store.session(tokenHash: sha256Hex(Array(token.utf8)), now: Date())
    }

    func remove(_ token: String) async throws {
        try await store.remove(tokenHash: sha256Hex(Array(token.utf8)))
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
