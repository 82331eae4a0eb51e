import Foundation

/// Percent-encoding for a value put in a URL's query or a form body: RFC 3986's unreserved
/// characters (letters, digits, `-`, `.`, `_`, `~`) as they are, every other byte as `%XX` — so
/// `&`, `=`, `+`, spaces and quotes never change what the query means.
public enum PercentEncoding {
    static let unreservedCharacters = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    public static func unreserved(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreservedCharacters) ?? text
    }
}
