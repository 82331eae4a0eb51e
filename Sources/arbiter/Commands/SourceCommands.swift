import ArbiterCore
import ArbiterPolicy
import ArgumentParser
import Foundation

struct Source: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Mapped webhook sources: test their mapping scripts.",
        subcommands: [Test.self])

    struct Test: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run mapping scripts' test cases (tests/<script>.json beside each). Ends with 'N passed, N failed'.")

        @Argument(help: "A mapping script (.lua), or a directory of them (e.g. Policies/mappings).")
        var path: String

        @Option(name: .customLong("instruction-budget"), help: "Lua instructions per call (as the service runs them).")
        var instructionBudget: Int64 = PolicyLimits().instructionBudget

        @Option(name: .customLong("time-limit-ms"), help: "Wall-clock limit per call, in milliseconds.")
        var timeLimitMillis: Int64 = PolicyLimits().timeLimitMillis

        func run() throws {
            let url = URL(fileURLWithPath: path)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
                throw ValidationError("\(path) does not exist")
            }
            let scripts = isDirectory.boolValue
                ? try FileManager.default.contentsOfDirectory(atPath: url.path).filter { $0.hasSuffix(".lua") }.sorted()
                    .map { url.appendingPathComponent($0) }
                : [url]
            let limits = PolicyLimits(instructionBudget: instructionBudget, timeLimitMillis: timeLimitMillis)
            var passed = 0, failed = 0
            for file in scripts {
                let script: MappingScript
                do {
                    script = try MappingScript(file: file.lastPathComponent, source: try String(contentsOf: file, encoding: .utf8), limits: limits)
                } catch {
                    print("FAIL \(file.lastPathComponent): does not compile\n  \(error)")
                    failed += 1
                    continue
                }
                let testFile = MappingTestCase.file(for: file)
                guard FileManager.default.fileExists(atPath: testFile.path) else {
                    print("note: \(file.lastPathComponent) has no test cases (add tests/\(testFile.lastPathComponent))")
                    continue
                }
                let cases: [MappingTestCase]
                do {
                    cases = try MappingTestCase.load(testFile)
                } catch {
                    print("FAIL \(file.lastPathComponent): \(error)")
                    failed += 1
                    continue
                }
                let failures = MappingTestCase.failures(cases, script: script)
                for failure in failures { print("FAIL \(script.name): \(failure.name)\n  expected \(failure.expected)") }
                failed += failures.count
                passed += cases.count - failures.count
            }
            print("\(passed) passed, \(failed) failed")
            if failed > 0 { throw ExitCode.failure }
        }
    }
}
