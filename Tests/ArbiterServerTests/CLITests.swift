import ArbiterCore
import ArbiterSQLite
import Foundation
import GRDB
import Testing

/// Runs the built `arbiter` executable, as a user would.
func runArbiter(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
    let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("arbiter")
    let executable = FileManager.default.fileExists(atPath: binary.path)
        ? binary : repositoryRoot.appendingPathComponent(".build/debug/arbiter")
    // Output to a file opened close-on-exec (only this child gets it), read once it exited.
    let log = URL(fileURLWithPath: scratchDirectory() + ".out")
    let output = try ChildProcess.logFile(log)
    defer { try? FileManager.default.removeItem(at: log) }
    let child: ChildProcess
    do {
        child = try ChildProcess(executable, arguments, environment: environment.isEmpty ? nil
                                     : ProcessInfo.processInfo.environment.merging(environment) { _, new in new }, output: output)
    } catch {
        close(output)
        throw error
    }
    close(output)
    guard child.wait(timeout: .seconds(240)), let status = child.exitStatus else {
        throw TestFailure("arbiter \(arguments.joined(separator: " ")) did not exit")
    }
    let data = try Data(contentsOf: log)
    return (status, String(decoding: data, as: UTF8.self))
}

/// Writes `event.json`: a valid credit request for 1.00 USD on account `a`.
@discardableResult
func writeCreditEvent(in dir: URL) throws -> URL {
    let file = dir.appendingPathComponent("event.json")
    try #"{"id":"e1","type":"credit.requested","source":"s","occurred_at":"2026-11-22T10:00:00Z","account_id":"a","correlation_id":"c","payload":{"amount_minor":100,"currency":"USD","reason":"r"}}"#
        .write(to: file, atomically: true, encoding: .utf8)
    return file
}

func temporaryDirectory() throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("arbiter-cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir.appendingPathComponent("tests"), withIntermediateDirectories: true)
    return dir
}

@Suite(.timeLimit(.minutes(5))) struct CLITests {
    @Test func policyTestPassesTheShippedPolicies() throws {
        let (status, output) = try runArbiter(["policy", "test", repositoryRoot.appendingPathComponent("Policies").path])
        #expect(status == 0, "\(output)")
        let last = String(output.split(separator: "\n").last ?? "")
        #expect(last.hasSuffix(" passed, 0 failed") && !last.hasPrefix("0 "), "\(output)")
    }

    @Test func policyTestPrintsFailingCasesAndExitsNonZero() throws {
        let dir = try temporaryDirectory()
        try """
            return { name = "small", on = { "credit.requested" },
              decide = function(event, ctx) return approve{ reasons = { "always" } } end }
            """.write(to: dir.appendingPathComponent("small.lua"), atomically: true, encoding: .utf8)
        try """
            {"cases": [
              {"name": "approves", "event": {"type": "credit.requested", "payload": {"amount_minor": 1, "currency": "USD", "reason": "r"}},
               "expect": {"outcome": "approve"}},
              {"name": "wrongly expects reject", "event": {"type": "credit.requested", "payload": {"amount_minor": 1, "currency": "USD", "reason": "r"}},
               "expect": {"outcome": "reject"}}
            ]}
            """.write(to: dir.appendingPathComponent("tests/small.json"), atomically: true, encoding: .utf8)
        let (status, output) = try runArbiter(["policy", "test", dir.path])
        #expect(status != 0)
        #expect(output.contains("FAIL small: wrongly expects reject\n  expected: outcome=reject\n  actual:   outcome=approve"), "\(output)")
        #expect(output.split(separator: "\n").last == "1 passed, 1 failed")
    }

    @Test func policyCheckReportsCompileErrorsWithFileAndLine() throws {
        let dir = try temporaryDirectory()
        try "return {\n  name = 'broken',\n  on = { 'credit.requested' },\n  decide = function(e, ctx)\n    return approve{\n  end,\n}\n"
            .write(to: dir.appendingPathComponent("broken.lua"), atomically: true, encoding: .utf8)
        try "return { name = 'other', on = { 'credit.requestd' }, decide = function() return approve{} end }"
            .write(to: dir.appendingPathComponent("misnamed.lua"), atomically: true, encoding: .utf8)
        let (status, output) = try runArbiter(["policy", "check", dir.path])
        #expect(status != 0)
        #expect(output.contains("broken.lua:6:"), "\(output)")
        #expect(output.contains("misnamed.lua: name 'other' should match the file name"), "\(output)")
        #expect(output.contains("unknown event type 'credit.requestd'"), "\(output)")
    }

    @Test func simulateShowsAFailingPolicyAsTheServiceWouldDecide() throws {
        let dir = try temporaryDirectory()
        try "return { name = 'loops', on = { 'credit.requested' }, decide = function() while true do end end }"
            .write(to: dir.appendingPathComponent("loops.lua"), atomically: true, encoding: .utf8)
        try writeCreditEvent(in: dir)
        let (status, output) = try runArbiter(["policy", "simulate", "--policies", dir.path, "--event", dir.appendingPathComponent("event.json").path])
        #expect(status == 0, "\(output)")
        let decision = try JSONValue.parse(Data(output.utf8))["decision"]
        #expect(decision?["outcome"] == "review")
        #expect(decision?["queue"] == "policy-errors")
        #expect(decision?["reasons"]?.arrayValue?.first?.stringValue?.contains("loops.lua:1: instruction budget exceeded") == true, "\(output)")
    }

    @Test func simulateApprovesWithTheShippedPolicy() throws {
        let dir = try temporaryDirectory()
        try #"{"id":"e1","type":"credit.requested","source":"s","occurred_at":"2026-11-22T10:00:00Z","account_id":"acct_1","correlation_id":"c","payload":{"amount_minor":2500,"currency":"USD","reason":"outage"}}"#
            .write(to: dir.appendingPathComponent("event.json"), atomically: true, encoding: .utf8)
        try #"{"account":{"status":"active","tier":"standard","currency":"USD"},"history":{"credits_90d_minor":0}}"#
            .write(to: dir.appendingPathComponent("context.json"), atomically: true, encoding: .utf8)
        let (status, output) = try runArbiter(["policy", "simulate", "--policies", repositoryRoot.appendingPathComponent("Policies").path,
                                               "--event", dir.appendingPathComponent("event.json").path,
                                               "--context", dir.appendingPathComponent("context.json").path])
        #expect(status == 0, "\(output)")
        let decision = try JSONValue.parse(Data(output.utf8))["decision"]
        #expect(decision?["outcome"] == "approve")
        #expect(decision?["actions"]?.arrayValue?.first?["amount_minor"] == 2500)
    }

    @Test func simulateGivesPoliciesTheConfigFile() throws {
        let dir = try temporaryDirectory()
        try "return { name = 'cfg', on = { 'credit.requested' }, decide = function(e, ctx) return review{ queue = ctx.config.queue } end }"
            .write(to: dir.appendingPathComponent("cfg.lua"), atomically: true, encoding: .utf8)
        try writeCreditEvent(in: dir)
        try #"{"queue": "finance-eu"}"#.write(to: dir.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        let (status, output) = try runArbiter(["policy", "simulate", "--policies", dir.path, "--event", dir.appendingPathComponent("event.json").path,
                                               "--policy-config", dir.appendingPathComponent("config.json").path])
        #expect(status == 0, "\(output)")
        #expect(try JSONValue.parse(Data(output.utf8))["decision"]?["queue"] == "finance-eu", "\(output)")
    }

    @Test func simulateNamesTheBadFieldOfAnInvalidEvent() throws {
        let dir = try temporaryDirectory()
        try #"{"id":"e1","type":"credit.requested","source":"s","occurred_at":"yesterday","account_id":"a","correlation_id":"c","payload":{"amount_minor":-5,"currency":"usd","reason":"r"}}"#
            .write(to: dir.appendingPathComponent("event.json"), atomically: true, encoding: .utf8)
        let (status, output) = try runArbiter(["policy", "simulate", "--policies", repositoryRoot.appendingPathComponent("Policies").path,
                                               "--event", dir.appendingPathComponent("event.json").path])
        #expect(status != 0)
        #expect(output.contains("occurred_at: must be an RFC 3339 timestamp"), "\(output)")
        #expect(output.contains("payload.amount_minor: must be a positive integer"), "\(output)")
        #expect(output.contains("payload.currency: must be an ISO 4217 currency code"), "\(output)")
    }

    @Test func auditVerifyPassesThenNamesATamperedRow() async throws {
        let dir = try temporaryDirectory()
        let path = dir.appendingPathComponent("arbiter.sqlite").path
        let database = try AppDatabase.open(path: path)
        try await database.writer.write { db in
            for i in 1...6 { try AuditLog.append(db, actor: "system", kind: "test", subject: "s\(i)", data: ["i": .int(Int64(i))]) }
        }
        try database.writer.close()
        var (status, output) = try runArbiter(["audit", "verify", "--db", path])
        #expect(status == 0)
        #expect(output.hasPrefix("audit chain intact: 6 entries, last hash "), "\(output)")

        let raw = try DatabaseQueue(path: path)
        try await raw.write { db in
            try db.execute(sql: "DROP TRIGGER audit_log_no_update")
            try db.execute(sql: "UPDATE audit_log SET data = '{\"i\":40}' WHERE seq = 4")
            try db.execute(sql: "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END")
        }
        try raw.close()
        (status, output) = try runArbiter(["audit", "verify", "--db", path])
        #expect(status != 0)
        #expect(output.contains("audit chain broken at entry 4"), "\(output)")
    }
}
