extension String {
    /// A text's length as the API's rules count it: Unicode scalars (code points), which is
    /// what JSON Schema's `minLength`/`maxLength` in openapi.yaml measure — so a client checking
    /// against the document and the server agree on every string ("é" typed as e + U+0301 is two).
    public var schemaLength: Int { unicodeScalars.count }
}
