import Mustache

/// The console's Mustache templates: `Resources/Console/*.mustache`, embedded at build time
/// (no resource files to ship). `{{x}}` escapes HTML; only `layout` inserts pre-rendered HTML,
/// with `{{{content}}}`.
enum ConsoleTemplates {
    static func library() throws -> MustacheLibrary {
        var library = MustacheLibrary()
        for (path, text) in EmbeddedResources.text where path.hasPrefix("Console/") && path.hasSuffix(".mustache") {
            try library.register(text, named: String(path.dropFirst("Console/".count).dropLast(".mustache".count)))
        }
        return library
    }
}
