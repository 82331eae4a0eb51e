import ArbiterCore
import ArbiterPolicy
import ArgumentParser
import Foundation

/// Options every command that evaluates policies shares.
struct PolicyOptions: ParsableArguments {
    @Option(name: .customLong("policy-config"),
            help: "JSON file with an object policies read as ctx.config (read-only).")
    var configFile: String?

    /// The `ctx.config` object, empty without a file.
    func config() throws -> [String: JSONValue] {
        guard let configFile else { return [:] }
        guard let data = FileManager.default.contents(atPath: configFile) else {
            throw CommandFailure("cannot read \(configFile)")
        }
        guard let value = try? JSONValue.parse(data), let object = value.objectValue else {
            throw CommandFailure("\(configFile): must hold a JSON object")
        }
        return object
    }
}
