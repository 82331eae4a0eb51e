import ArbiterApp
import ArbiterCore
import Foundation
import Testing

@testable import ArbiterPostgres

/// Two backends on one database stand for two Arbiter instances: what one writes, the other
/// sees, and the rules that span the table hold across them.
@Suite(.timeLimit(.minutes(3)), .enabled(if: PostgresCluster.available, "ARBITER_TEST_POSTGRES names no running cluster (Scripts/test.sh starts one)"))
struct PostgresStoreTests {
    @Test func instancesStartingTogetherMigrateOnceAndMakeOneFirstAdmin() async throws {
        let url = try await PostgresCluster.freshDatabase()
        let instances = try await withThrowingTaskGroup(of: PostgresBackend.self) { group in
            for _ in 0..<4 { group.addTask { try await PostgresBackend.connect(url: url) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        defer { instances.forEach { $0.close() } }
        let created = try await withThrowingTaskGroup(of: Bool.self) { group in
            for (n, backend) in instances.enumerated() {
                group.addTask {
                    let (key, secret) = Keys.newKey(name: "admin \(n)", role: .admin, approvalLimits: nil, secret: nil)
                    return try await PostgresKeyStore(backend: backend).add(key, secretHash: ApiKey.hash(secret: secret), by: "system",
                                                                            onlyIfNone: true)
                }
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(created.filter { $0 }.count == 1, "the first admin key is made once")
        #expect(try await PostgresKeyStore(backend: instances[0]).all().count == 1)
    }

    @Test func appendsFromTwoInstancesFormOneGapFreeChain() async throws {
        let url = try await PostgresCluster.freshDatabase()
        let one = try await PostgresBackend.connect(url: url)
        let two = try await PostgresBackend.connect(url: url)
        defer { one.close(); two.close() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for n in 0..<60 {
                let backend = n.isMultiple(of: 2) ? one : two
                group.addTask {
                    try await backend.transaction { unit in
                        unit.audit(actor: "instance \(n % 2)", kind: "test.appended", subject: "s\(n)", data: ["n": .int(Int64(n))])
                    }
                }
            }
            try await group.waitForAll()
        }
        guard case .intact(let count, _) = try await PostgresAuditChain.verify(one.client, logger: one.logger) else {
            Issue.record("the chain is broken")
            return
        }
        #expect(count == 60)
    }

    @Test func aKeyRevokedOnOneInstanceIsRefusedByTheOtherAndTheLastAdminStays() async throws {
        let url = try await PostgresCluster.freshDatabase()
        let one = try await PostgresBackend.connect(url: url)
        let two = try await PostgresBackend.connect(url: url)
        defer { one.close(); two.close() }
        let keysOne = Keys(store: PostgresKeyStore(backend: one))
        let keysTwo = Keys(store: PostgresKeyStore(backend: two))
        let admin = try #require(try await keysOne.createFirstAdmin(secret: "first-admin-secret-0123456789"))
        let reviewer = try await keysOne.create(name: "Alice", role: .reviewer, approvalLimits: ["USD": 50_000], by: admin.key.id)
        #expect(try await PostgresKeyStore(backend: two).liveKey(secretHash: ApiKey.hash(secret: reviewer.secret))?.approvalLimits == ["USD": 50_000])
        _ = try await keysTwo.revoke(id: reviewer.key.id, by: admin.key.id)
        #expect(try await PostgresKeyStore(backend: one).liveKey(secretHash: ApiKey.hash(secret: reviewer.secret)) == nil)
        await #expect(throws: Refusal.self) { _ = try await keysOne.revoke(id: admin.key.id, by: admin.key.id) }
        guard case .intact(let count, _) = try await PostgresAuditChain.verify(two.client, logger: two.logger) else {
            Issue.record("the chain is broken")
            return
        }
        #expect(count == 3, "created, created, revoked")
    }
}
