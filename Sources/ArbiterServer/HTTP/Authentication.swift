import ArbiterCore
import ArbiterApp
import Foundation
import Hummingbird

/// Identifies the caller of every /v1 route from `Authorization: Bearer <key>`. Keys are
/// looked up by their SHA-256; an unknown or revoked key is 401 at once. Routes then check
/// the role with `context.require(...)`.
struct Authentication: RouterMiddleware {
    let keys: Keys

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
