import Hummingbird

/// The router, answering 405 with `Allow` (RFC 9110 §15.5.6) when a path exists but not with
/// the request's method — on its own the router answers 404, as for a path that does not exist.
struct MethodCheckedRouter: HTTPResponderBuilder {
    let router: Router<AppRequestContext>

    func buildResponder() -> Responder {
        Responder(routes: router.routes.map { ($0.path, $0.method) }, router: router.buildResponder())
    }

    struct Responder: HTTPResponder {
        let routes: [(path: RouterPath, method: HTTPRequest.Method)]
        let router: RouterResponder<AppRequestContext>

        func respond(to request: Request, context: AppRequestContext) async throws -> Response {
            let response = try await router.respond(to: request, context: context)
            // Only a 404 can be a route the method lacks (a handler's own 404 is for a method
            // the path has): the route table is not read on the way of any other answer.
            guard response.status == .notFound else { return response }
            let allowed = allowedMethods(path: request.uri.path)
            guard !allowed.isEmpty, !allowed.contains(request.method) else { return response }
            let names = allowed.map(\.rawValue).sorted().joined(separator: ", ")
            var refusal = try Problem(status: .methodNotAllowed, title: "Method not allowed",
                                      detail: "\(request.method.rawValue) is not supported on \(request.uri.path); it allows \(names)")
                .response(from: request, context: context)
            refusal.headers[.allow] = names
            return refusal
        }

        /// The methods routed for the path; empty when no route has it. As in the router, a
        /// segment that names the path literally wins over a parameter: `/v1/inbound/messages`
        /// is the messages route (GET), not the `{source}` route (POST) it also matches.
        func allowedMethods(path: String) -> Set<HTTPRequest.Method> {
            let segments = path.split(separator: "/", omittingEmptySubsequences: true)
            var best: [Bool] = []
            var methods = Set<HTTPRequest.Method>()
            for route in routes where route.path.count == segments.count
                && zip(route.path, segments).allSatisfy({ element, segment in element ~= segment }) {
                let literal = zip(route.path, segments).map { element, segment in element.description == segment }
                if literal.lexicographicallyPrecedes(best, by: { !$0 && $1 }) { continue }
                if best.lexicographicallyPrecedes(literal, by: { !$0 && $1 }) || methods.isEmpty {
                    best = literal
                    methods = []
                }
                methods.insert(route.method)
            }
            return methods
        }
    }
}
