import ArbiterCore
import Hummingbird

/// Every error the API returns: RFC 9457 `application/problem+json` with `type`, `title`,
/// `status`, `detail` and, for bad input, `errors: [{"field", "message"}]`.
public struct Problem: HTTPResponseError, Sendable {
    public let status: HTTPResponse.Status
    public let title: String
    public let detail: String
    public let errors: [FieldError]

    public init(status: HTTPResponse.Status, title: String, detail: String, errors: [FieldError] = []) {
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors
    }

    static func unauthorized() -> Problem {
        Problem(status: .unauthorized, title: "Unauthorized", detail: "send a valid API key as 'Authorization: Bearer <key>'")
    }

    /// The one place a use case's refusal becomes a response.
    init(_ refusal: Refusal) {
        let (status, title): (HTTPResponse.Status, String) = switch refusal.kind {
        case .notFound: (.notFound, "Not found")
        case .conflict: (.conflict, "Conflict")
        case .forbidden: (.forbidden, "Not allowed")
        case .invalid: (.unprocessableContent, "Invalid request")
        }
        self.init(status: status, title: refusal.title ?? title, detail: refusal.message, errors: refusal.errors)
    }

    var json: JSONValue {
        var fields: [String: JSONValue] = [
            "type": .string("https://arbiter.dev/problems/\(status.code)"), "title": .string(title),
            "status": .int(Int64(status.code)), "detail": .string(detail),
        ]
        if !errors.isEmpty {
            fields["errors"] = .array(errors.map { .object(["field": .string($0.field), "message": .string($0.message)]) })
        }
        return .object(fields)
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var buffer = ByteBuffer()
        buffer.writeBytes(CanonicalJSON.encode(json))
        var headers: HTTPFields = [.contentType: "application/problem+json"]
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: buffer))
    }
}
