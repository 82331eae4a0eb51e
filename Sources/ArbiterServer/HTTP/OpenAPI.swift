/// The OpenAPI 3.1 document served at `/openapi.yaml`: `Resources/openapi.yaml`, embedded at
/// build time. Tests hold the server's real responses to it (OpenAPIConformanceTests): every
/// documented operation is exercised, every response seen must be documented with its status,
/// and its body must match the schema; schemathesis (`Scripts/test.sh`) checks it too.
enum OpenAPIDocument {
    static let yaml = EmbeddedResources.text["openapi.yaml"]!
}
