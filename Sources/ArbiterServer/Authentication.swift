import ArbiterCore
import ArbiterSQLite
import Foundation
import Hummingbird

/// Identifies the caller of every /v1 route from `Authorization: Bearer <key>`. Keys are
/// looked up by their SHA-256; an unknown or revoked key is 401 at once. Routes then check
/// the role with `context.require(...)`.
struct Authentication: RouterMiddleware {
    let keys: KeyCache

    func handle(_ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            throw Problem.unauthorized()
        }
        let secret = String(header.dropFirst("Bearer ".count)).trimmingCharacters(in: .whitespaces)
        guard !secret.isEmpty, let key = try await keys.authenticate(secret: secret) else {
            throw Problem.unauthorized()
        }
        var context = context
        context.identity = key
        return try await next(request, context)
    }
}

/// Valid keys seen in the last few seconds, so a busy client does not cost a database read per
/// request. Revoking a key through this service clears the cache at once; a key revoked by
/// another process stops working within `lifetime`. Unknown keys are never cached, so a key
/// created with the CLI works at once.
final class KeyCache: Sendable {
    let database: AppDatabase
    let lifetime: Duration
    private let entries = Locked<[String: (key: ApiKey, until: ContinuousClock.Instant)]>([:])

    init(database: AppDatabase, lifetime: Duration = .seconds(5)) {
        self.database = database
        self.lifetime = lifetime
    }

    func authenticate(secret: String) async throws -> ApiKey? {
        try await authenticate(hash: ApiKeys.hash(secret: secret))
    }

    /// The live key whose secret hashes to `hash` (the console keeps only the hash in its session).
    func authenticate(hash: String) async throws -> ApiKey? {
        let now = ContinuousClock.now
        if let hit = entries.withLock({ $0[hash] }), hit.until > now { return hit.key }
        guard let key = try await database.key(hash: hash) else {
            entries.withLock { _ = $0.removeValue(forKey: hash) }
            return nil
        }
        entries.withLock { cache in
            if cache.count > 10_000 { cache.removeAll() }   // bounded: keys are few, secrets guessed are not cached
            cache[hash] = (key, now + lifetime)
        }
        return key
    }

    func invalidate() { entries.withLock { $0.removeAll() } }
}
