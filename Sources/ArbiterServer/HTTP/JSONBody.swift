import ArbiterApp
import ArbiterCore
import Foundation
import Hummingbird

/// Reads a JSON object body (at most 1 MiB), or throws the problem a client should see.
enum JSONBody {
    static let limit = 1 << 20

    /// With `allowEmpty`, an empty body reads as `{}` (for commands whose fields are all optional).
    static func object(_ request: Request, context: AppRequestContext, allowEmpty: Bool = false) async throws -> [String: JSONValue] {
        let buffer = try await bytes(request, limit: limit)
        if allowEmpty && buffer.readableBytesView.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return [:] }
        guard let value = try? JSONValue.parse(Data(buffer.readableBytesView)) else {
            // A body that parses as JSON is accepted whatever its Content-Type (curl's -d sends
            // form encoding); one that does not is 415 when declared as something else, else 400.
            if let type = request.headers[.contentType], !type.lowercased().contains("json") {
                throw Problem(status: .unsupportedMediaType, title: "Unsupported media type",
                              detail: "the body must be JSON (application/json), not \(type)")
            }
            throw Problem(status: .badRequest, title: "Not JSON", detail: "the body must be a JSON object")
        }
        guard let object = value.objectValue else {
            throw Problem(status: .unprocessableContent, title: "Invalid request", detail: "the body must be a JSON object",
                          errors: [FieldError("", "must be an object, got \(value.typeName)")])
        }
        return object
    }

    /// The whole body, or the 413 problem when it is longer than `limit` bytes.
    static func bytes(_ request: Request, limit: Int) async throws -> ByteBuffer {
        do {
            return try await request.body.collect(upTo: limit)
        } catch {
            throw Problem(status: .contentTooLarge, title: "Body too large", detail: "the body must be at most \(limit) bytes")
        }
    }
}
