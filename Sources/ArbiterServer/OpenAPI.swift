/// The OpenAPI 3.1 document served at `/openapi.yaml`. Tests hold the server's real responses
/// to it (OpenAPIConformanceTests), so it cannot drift from what the routes do.
enum OpenAPIDocument {
    static let yaml = #"""
openapi: 3.1.0
info:
  title: Arbiter
  version: 0.3.0
paths: {}
"""#
}
