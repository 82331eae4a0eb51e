import ArbiterApp
import Hummingbird

/// Records every request's latency by route template (not raw path: ids would explode the labels).
struct RequestMetrics: RouterMiddleware {
    let metrics: ServiceMetrics

    func handle(_ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        do {
            let response = try await next(request, context)
            metrics.request(method: request.method.rawValue, route: context.endpointPath ?? "unmatched",
                            status: Int(response.status.code), duration: ContinuousClock.now - started)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            metrics.request(method: request.method.rawValue, route: context.endpointPath ?? "unmatched",
                            status: Int(status), duration: ContinuousClock.now - started)
            throw error
        }
    }
}
