import ArbiterCore
import ArbiterPolicy
import ArgumentParser
import Foundation

extension Arbiter {
    struct Policy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Test, check and simulate Lua policies on disk; publish, activate, shadow and backtest them on a running server.",
            subcommands: [Test.self, Check.self, Simulate.self, Publish.self, Activate.self, Approve.self, Rollback.self,
                          ResetBreaker.self, Shadow.self, Unshadow.self, ShadowReport.self, Backtest.self])
    }
}

extension Arbiter.Policy {
    struct Test: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run every policy's test cases (DIR/tests/<name>.json). Ends with 'N passed, N failed'.")

        @Argument(help: "Directory of .lua policies.")
        var directory: String

        @OptionGroup var options: PolicyOptions

        func run() throws {
            let policyDirectory = PolicyDirectory(path: directory)
            let engine = PolicyEngine(config: try options.config(), warmStates: 0)
            let runner = PolicyTestRunner(engine: engine)
            var passed = 0
            var failed = 0
            for source in try policyDirectory.sources() {
                let compiled: CompiledPolicy
                do {
                    guard let policy = try engine.compile([source]).policies.first else { continue }
                    compiled = policy
                } catch {
                    print("FAIL \(source.file): does not compile\n  \(error)")
                    failed += 1
                    continue
                }
                guard let testFile = policyDirectory.testFile(for: compiled.name) else {
                    print("note: \(compiled.name) has no test cases (add tests/\(compiled.name).json)")
                    continue
                }
                let cases: [PolicyTestCase]
                do {
                    cases = try PolicyTestCase.load(testFile)
                } catch {
                    print("FAIL \(compiled.name): \(error)")
                    failed += 1
                    continue
                }
                let failures = runner.run(policy: compiled, cases: cases)
                for failure in failures { print(failure) }
                failed += failures.count
                passed += cases.count - failures.count
            }
            print("\(passed) passed, \(failed) failed")
            if failed > 0 { throw ExitCode.failure }
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compile every policy in the sandbox and check its header and tests file.")

        @Argument(help: "Directory of .lua policies.")
        var directory: String

        @OptionGroup var options: PolicyOptions

        func run() throws {
            let policyDirectory = PolicyDirectory(path: directory)
            let engine = PolicyEngine(config: try options.config(), warmStates: 0)
            var problems: [String] = []
            var names: [String: String] = [:]
            let sources = try policyDirectory.sources()
            for source in sources {
                do {
                    guard let policy = try engine.compile([source]).policies.first else { continue }
                    let stem = String(source.file.dropLast(4))
                    if policy.name != stem {
                        problems.append("\(source.file): name '\(policy.name)' should match the file name ('\(stem)')")
                    }
                    if let other = names[policy.name] {
                        problems.append("\(source.file): name '\(policy.name)' is also used by \(other)")
                    }
                    names[policy.name] = source.file
                    for type in policy.header.on where EventType(rawValue: type) == nil {
                        problems.append("\(source.file): on lists unknown event type '\(type)'")
                    }
                    if let testFile = policyDirectory.testFile(for: policy.name) {
                        do { _ = try PolicyTestCase.load(testFile) } catch { problems.append("\(error)") }
                    }
                } catch {
                    problems.append("\(error)")
                }
            }
            for problem in problems { print(problem) }
            if !problems.isEmpty {
                print("\(problems.count) problem(s) in \(sources.count) policies")
                throw ExitCode.failure
            }
            print("ok: \(sources.count) policies compile")
        }
    }

    struct Simulate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Decide one event with the policies in a directory; print the decision as the API would. Stores nothing.")

        @Option(help: "Directory of .lua policies.")
        var policies: String

        @Option(help: "JSON file with the event envelope.")
        var event: String

        @Option(help: "JSON file with {\"account\": {...}, \"history\": {...}, \"now\": ...}.")
        var context: String?

        @OptionGroup var options: PolicyOptions

        func run() throws {
            func readJSON(_ path: String) throws -> JSONValue {
                guard let data = FileManager.default.contents(atPath: path) else { throw CommandFailure("cannot read \(path)") }
                do { return try JSONValue.parse(data) } catch { throw CommandFailure("\(path): not valid JSON") }
            }
            let eventValue: Event
            do {
                eventValue = try Event(envelope: readJSON(event))
            } catch let error as Refusal {
                throw CommandFailure("\(event): invalid event: \(error)")
            }
            let contextValue = try context.map(readJSON)
            let policyContext: PolicyContext
            do {
                policyContext = try PolicyContext(json: contextValue, accountId: eventValue.accountId,
                                                  defaultNow: Int64(Date().timeIntervalSince1970))
            } catch let error as Refusal {
                throw CommandFailure("\(context ?? "context"): \(error)")
            }
            let engine = PolicyEngine(config: try options.config(), warmStates: 0)
            let set = try engine.compile(PolicyDirectory(path: policies).sources())
            let decision = engine.decide(eventValue, context: policyContext, guardrails: Guardrails(), set: set, live: false)
            var fields = decision.json.objectValue ?? [:]
            fields["id"] = .null
            fields["review_id"] = .null
            let output: JSONValue = .object(["event_id": .null, "simulated": true, "decision": .object(fields)])
            print(PrettyJSON.string(output))
        }
    }
}

/// Indented JSON with sorted keys, for people.
enum PrettyJSON {
    static func string(_ value: JSONValue) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return (try? String(decoding: encoder.encode(value), as: UTF8.self)) ?? CanonicalJSON.string(value)
    }
}
