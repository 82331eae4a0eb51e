import Foundation
import PackagePlugin

/// Embeds the files of a target's `Resources/` folder (the OpenAPI document, the console's
/// templates) in the target as string literals (`EmbeddedResources.text`): they are edited as
/// files and the binary stays self-contained — SwiftPM's own resources would need a bundle
/// directory shipped beside the executable.
@main
struct EmbedResources: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        guard let module = target as? SourceModuleTarget else { return [] }
        let root = module.directoryURL.appending(path: "Resources")
        let inputs = module.sourceFiles.map(\.url).filter { $0.path.hasPrefix(root.path + "/") }
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedResources.swift")
        return [
            .buildCommand(displayName: "Embedding \(inputs.count) resources of \(target.name)",
                          executable: try context.tool(named: "embed-resources").url,
                          arguments: [output.path, root.path] + inputs.map(\.path),
                          inputFiles: inputs, outputFiles: [output]),
        ]
    }
}
