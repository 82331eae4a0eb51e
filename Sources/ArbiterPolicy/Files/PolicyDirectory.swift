import ArbiterCore
import Foundation

/// Policies as they live on disk: `DIR/*.lua`, with test cases in `DIR/tests/<name>.json`.
public struct PolicyDirectory: Sendable {
    public let url: URL

    public init(path: String) { self.url = URL(fileURLWithPath: path) }

    /// Every `.lua` file directly in the directory, sorted by file name.
    public func sources() throws -> [PolicySource] {
        let names = try FileManager.default.contentsOfDirectory(atPath: url.path)
            .filter { $0.hasSuffix(".lua") }
            .sorted()
        return try names.map { name in
            let data = try Data(contentsOf: url.appendingPathComponent(name))
            guard let text = String(data: data, encoding: .utf8) else {
                throw PolicyLoadError(file: name, message: "\(name): not UTF-8 text")
            }
            return PolicySource(file: name, source: text)
        }
    }

    /// The test file of a policy, if there is one.
    public func testFile(for policyName: String) -> URL? {
        let file = url.appendingPathComponent("tests").appendingPathComponent(policyName + ".json")
        return FileManager.default.fileExists(atPath: file.path) ? file : nil
    }
}
