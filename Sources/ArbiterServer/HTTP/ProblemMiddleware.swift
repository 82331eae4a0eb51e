import ArbiterCore
import Hummingbird
import Logging

/// Turns a use case's ``Refusal`` into its problem, and any other error that is not already an
/// HTTP error into a 500 problem, so every error a client sees has the same shape. The cause of
/// a 500 is logged, not sent: it may name internals.
struct ProblemMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(_ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as any HTTPResponseError {
            throw error
        } catch let refusal as Refusal {
            throw Problem(refusal)
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(String(reflecting: error))", "path": "\(request.uri.path)"])
            throw Problem(status: .internalServerError, title: "Internal error",
                          detail: "the request could not be completed; nothing was acknowledged. It is safe to send it again.")
        }
    }
}
