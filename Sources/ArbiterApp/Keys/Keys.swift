import ArbiterCore
import Foundation

/// API keys: admins create, list and revoke them; every request is authenticated by one.
///
/// Valid keys seen in the last few seconds are cached, so a busy client does not cost a
/// database read per request. Revoking a key through this service clears the cache at once; a
/// key revoked by another process (or instance) stops working within `lifetime`. Unknown keys
/// are never cached, so a key created with the CLI works at once.
public final class Keys: Sendable {
    let store: any KeyStore
    let lifetime: Duration
    private let cache = Locked<[String: (key: ApiKey, until: ContinuousClock.Instant)]>([:])

    public init(store: any KeyStore, lifetime: Duration = .seconds(5)) {
        self.store = store
        self.lifetime = lifetime
    }

    /// A new key: its secret is returned once, here, and never stored.
    public struct Created: Sendable {
        public let key: ApiKey
        public let secret: String
    }

    /// Creates a key for `actor` (an admin, the CLI's user, `system`). A random secret is made
    /// unless one is given (the first admin key from `ARBITER_ADMIN_KEY`).
    public func create(name: String, role: Role, approvalLimits: [String: Int64]? = nil, by actor: String,
                       secret given: String? = nil) async throws -> Created {
        let (key, secret) = Self.newKey(name: name, role: role, approvalLimits: approvalLimits, secret: given)
        _ = try await store.add(key, secretHash: ApiKey.hash(secret: secret), by: actor, onlyIfNone: false)
        return Created(key: key, secret: secret)
    }

    /// On the very first start, the admin key (to be shown once); nil when keys already exist.
    public func createFirstAdmin(secret given: String? = nil) async throws -> Created? {
        let (key, secret) = Self.newKey(name: "initial admin", role: .admin, approvalLimits: nil, secret: given)
        guard try await store.add(key, secretHash: ApiKey.hash(secret: secret), by: "system", onlyIfNone: true) else { return nil }
        return Created(key: key, secret: secret)
    }

    public func all() async throws -> [ApiKey] { try await store.all() }

    /// Revokes the key (never the last live admin key); it stops working at once here.
    public func revoke(id: String, by actor: String) async throws -> ApiKey {
        guard let key = try await store.revoke(id: id, by: actor) else { throw Refusal.notFound("no API key \(id)") }
        cache.withLock { $0.removeAll() }
        return key
    }

    /// The live key with this id, for assigning work to it.
    public func liveKey(id: String) async throws -> ApiKey? { try await store.liveKey(id: id) }

    /// The live key whose secret this is; nil for an unknown or revoked key.
    public func authenticate(secret: String) async throws -> ApiKey? {
        try await authenticate(hash: ApiKey.hash(secret: secret))
    }

    /// The live key whose secret hashes to `hash` (the console keeps only the hash in its session).
    public func authenticate(hash: String) async throws -> ApiKey? {
        let now = ContinuousClock.now
        if let hit = cache.withLock({ $0[hash] }), hit.until > now { return hit.key }
        guard let key = try await store.liveKey(secretHash: hash) else {
            cache.withLock { _ = $0.removeValue(forKey: hash) }
            return nil
        }
        cache.withLock { cache in
            if cache.count > 10_000 { cache.removeAll() }   // bounded: keys are few, secrets guessed are not cached
            cache[hash] = (key, now + lifetime)
        }
        return key
    }

    /// A new key's fields and its secret: random unless one is given.
    public static func newKey(name: String, role: Role, approvalLimits: [String: Int64]?, secret given: String? = nil) -> (ApiKey, String) {
        var random = SystemRandomNumberGenerator()
        let secret = given ?? ("arb_" + Hex.encode((0..<32).map { _ in UInt8.random(in: 0...255, using: &random) }))
        let key = ApiKey(id: "key_" + Identifier.make(), name: name, role: role, approvalLimits: approvalLimits,
                         createdAt: Timestamp.format(Date()), revokedAt: nil)
        return (key, secret)
    }
}
