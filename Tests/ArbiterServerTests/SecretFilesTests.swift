import ArbiterCore
import ArbiterServer
import ArbiterSQLite
import Foundation
import Testing

/// The data directory and the key files in it: created for their owner only, from the first
/// byte; refused at start when someone else could read them or they are not what they seem.
@Suite(.timeLimit(.minutes(5))) struct SecretFilesTests {
    static func mode(_ path: String) throws -> Int {
        try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int ?? -1
    }

    static func start(_ directory: String) async throws {
        let configuration = ServerConfiguration(dataDirectory: directory, policiesDirectory: nil)
        _ = try await buildApplication(configuration, database: try AppDatabase.open(path: configuration.databasePath))
    }

    /// A valid 32-byte key as the service writes it.
    static let hexKey = String(repeating: "ab", count: 32) + "\n"

    @Test func theFirstStartCreatesTheDirectoryAndKeysForTheOwnerOnly() async throws {
        let directory = try temporaryDirectory().appendingPathComponent("data").path
        try await Self.start(directory)
        #expect(try Self.mode(directory) == 0o700)
        for file in ["admin.key", "export-signing.key", "export-masking.key"] {
            #expect(try Self.mode(directory + "/" + file) == 0o600, "\(file)")
        }
        // A second start reads them back.
        try await Self.start(directory)
    }

    @Test func aKeyFileOthersCanReadStopsTheStart() async throws {
        let directory = try temporaryDirectory().path
        let file = directory + "/export-signing.key"
        try Self.hexKey.write(toFile: file, atomically: false, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file)
        do {
            try await Self.start(directory)
            Issue.record("the start went on")
        } catch {
            #expect("\(error)".contains("\(file): can be read or written by other users (mode 644); chmod 600 \(file)"), "\(error)")
        }
    }

    @Test func aKeyFileOwnedBySomeoneElseStopsTheStart() async throws {
        // Only root can give a file away; as another user there is nothing to try.
        guard geteuid() == 0 else { return }
        let directory = try temporaryDirectory().path
        let file = directory + "/export-masking.key"
        try Self.hexKey.write(toFile: file, atomically: false, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600, .ownerAccountID: 65534], ofItemAtPath: file)
        do {
            try await Self.start(directory)
            Issue.record("the start went on")
        } catch {
            #expect("\(error)".contains("\(file): is owned by uid 65534, not by the user the service runs as (uid 0)"), "\(error)")
        }
    }

    /// A link planted where a key will be created is never written through.
    @Test func aLinkAtAKeysPathIsNeitherFollowedNorReplaced() async throws {
        let directory = try temporaryDirectory().path
        let target = try temporaryDirectory().appendingPathComponent("stolen").path
        try FileManager.default.createSymbolicLink(atPath: directory + "/export-signing.key", withDestinationPath: target)
        do {
            try await Self.start(directory)
            Issue.record("the start went on")
        } catch {
            #expect("\(error)".contains("is not a regular file"), "\(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: target))
        #expect(throws: SecretFile.Refused.self) { try SecretFile.create(directory + "/export-signing.key", contents: Data("x".utf8)) }
        #expect(!FileManager.default.fileExists(atPath: target))
    }

    @Test func publicKeyNeverCreatesAKey() async throws {
        let directory = try temporaryDirectory().path
        _ = try AppDatabase.open(path: directory + "/arbiter.sqlite")
        let (status, output) = try runArbiter(["audit", "public-key", "--db", directory + "/arbiter.sqlite"])
        #expect(status != 0 && output.contains("no export signing key in \(directory)"), "\(output)")
        #expect(!FileManager.default.fileExists(atPath: directory + "/export-signing.key"))
        try await Self.start(directory)
        let (again, key) = try runArbiter(["audit", "public-key", "--db", directory + "/arbiter.sqlite"])
        #expect(again == 0 && key.hasPrefix("ed25519:"), "\(key)")
    }

    @Test func theERPSecretFileIsCheckedLikeAKey() throws {
        let directory = try temporaryDirectory().path
        let secret = directory + "/erp.secret"
        try "a-signing-secret-of-32-characters\n".write(toFile: secret, atomically: false, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: secret)
        let (status, output) = try runArbiter(["serve", "--data-dir", directory + "/data", "--policies", directory, "--port", "0",
                                               "--erp-url", "http://127.0.0.1:9/erp", "--erp-secret-file", secret])
        #expect(status != 0 && output.contains("--erp-secret-file: \(secret): can be read or written by other users"), "\(output)")
    }
}
