import ArbiterCore
import Crypto
import Foundation
import PostgresNIO
import Testing

@testable import ArbiterPostgres

/// Keys every instance shares are made once and, with a key-encryption key, stored sealed.
@Suite(.timeLimit(.minutes(3)), .enabled(if: PostgresCluster.available, "ARBITER_TEST_POSTGRES names no running cluster (Scripts/test.sh starts one)"))
struct PostgresSecretsTests {
    @Test func instancesShareOneSecretSealedWithTheKeyEncryptionKey() async throws {
        let url = try await PostgresCluster.freshDatabase()
        let one = try await PostgresBackend.connect(url: url)
        let two = try await PostgresBackend.connect(url: url)
        defer { one.close(); two.close() }
        let kek = SymmetricKey(size: .bits256)
        let made = try await withThrowingTaskGroup(of: [UInt8].self) { group in
            for backend in [one, two, one, two] {
                group.addTask {
                    try await PostgresSecrets(backend: backend, keyEncryptionKey: kek).secret(named: "export-signing") {
                        Array(SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) })
                    }
                }
            }
            return try await group.reduce(into: [[UInt8]]()) { $0.append($1) }
        }
        #expect(Set(made).count == 1, "made once; every instance reads the same")
        // What the database holds is sealed: not the key itself.
        var stored: (String, String)?
        for try await row in try await one.client.query("SELECT wrapping, value FROM instance_secrets WHERE name = 'export-signing'",
                                                        logger: one.logger).decode((String, String).self) { stored = row }
        #expect(stored?.0 == "aes-256-gcm")
        #expect(Data(base64Encoded: stored?.1 ?? "").map { Array($0) } != made.first)
        // Without the key-encryption key, or with another, an instance refuses to start rather than make a second key.
        await #expect(throws: Refusal.self) {
            _ = try await PostgresSecrets(backend: two, keyEncryptionKey: nil).secret(named: "export-signing") { [0] }
        }
        await #expect(throws: Refusal.self) {
            _ = try await PostgresSecrets(backend: two, keyEncryptionKey: SymmetricKey(size: .bits256)).secret(named: "export-signing") { [0] }
        }
    }

    @Test func theKeyEncryptionKeyMustBeThirtyTwoBytesOfBase64() throws {
        #expect(try PostgresSecrets.keyEncryptionKey(environment: [:]) == nil)
        let good = Data((0..<32).map { UInt8($0) }).base64EncodedString()
        #expect(try PostgresSecrets.keyEncryptionKey(environment: ["ARBITER_KEY_ENCRYPTION_KEY": good]) != nil)
        #expect(throws: Refusal.self) { try PostgresSecrets.keyEncryptionKey(environment: ["ARBITER_KEY_ENCRYPTION_KEY": "c2hvcnQ="]) }
    }
}
