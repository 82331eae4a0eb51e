import ArbiterCore
import Foundation

/// A secret as a definition names it: `{"env": NAME}`, `{"file": PATH}` (mode 0600),
/// `{"value": TEXT}`, or — stored by the API — `{"sealed", "wrapping"}` (``SecretSealing``).
public enum SecretReference {
    public struct Read: Sendable {
        /// Nil when it cannot be read here (an unset variable, a missing file).
        public var value: String?
        /// Where it comes from, for people (never the secret).
        public var origin: String
        public var warning: String?
    }

    public static func read(_ secret: JSONValue, field: String, sealedAs name: String, environment: [String: String],
                     sealing: SecretSealing? = nil) -> Result<Read, FieldError> {
        if let variable = secret["env"]?.stringValue, !variable.isEmpty {
            let value = environment[variable].flatMap { $0.isEmpty ? nil : $0 }
            return .success(Read(value: value, origin: "$\(variable)"))
        }
        if let path = secret["file"]?.stringValue, !path.isEmpty {
            if let data = try? SecretFile.read(path), let text = String(data: data, encoding: .utf8)?
                .trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty {
                return .success(Read(value: text, origin: path))
            }
            return .success(Read(value: nil, origin: path, warning: "cannot read the secret file \(path)"))
        }
        if let value = secret["value"]?.stringValue, !value.isEmpty {
            return .success(Read(value: value, origin: sealing == nil ? "a value in the configuration file" : "a value given through the API"))
        }
        if let sealing, let sealed = secret["sealed"]?.stringValue, let wrapping = secret["wrapping"]?.stringValue {
            do {
                let opened = try sealing.open(name: name, wrapping: wrapping, value: sealed)
                return .success(Read(value: String(decoding: opened, as: UTF8.self), origin: "a value given through the API"))
            } catch {
                return .success(Read(value: nil, origin: "a value given through the API", warning: "\(error)"))
            }
        }
        return .failure(FieldError(field, "must be {\"env\": NAME}, {\"file\": PATH} or {\"value\": TEXT}"))
    }

    /// A definition's secret as stored by the API: a value sealed, a reference as it is.
    static func sealing(_ secret: JSONValue, field: String, name: String, with sealing: SecretSealing) throws -> JSONValue {
        guard secret["sealed"] == nil else {
            throw Refusal.invalid(field, "must be {\"value\": TEXT}, {\"env\": NAME} or {\"file\": PATH}")
        }
        guard let value = secret["value"]?.stringValue, !value.isEmpty else { return secret }
        let (wrapping, sealed) = try sealing.seal(name: name, secret: Array(value.utf8))
        return .object(["sealed": .string(sealed), "wrapping": .string(wrapping)])
    }
}
