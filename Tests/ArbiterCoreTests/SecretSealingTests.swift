import ArbiterCore
import Crypto
import Foundation
import Testing

/// Secrets stored in the database (shared keys, sources' secrets given through the API) are
/// sealed under the key-encryption key, bound to their name.
@Suite struct SecretSealingTests {
    @Test func aSealedSecretOpensOnlyWithItsKeyAndUnderItsName() throws {
        let sealing = SecretSealing(key: SymmetricKey(size: .bits256))
        let secret = Array("whsec_0123456789".utf8)
        let (wrapping, value) = try sealing.seal(name: "inbound-source:relay", secret: secret)
        #expect(wrapping == "aes-256-gcm")
        #expect(!value.contains("whsec") && Data(base64Encoded: value).map { !String(decoding: $0, as: UTF8.self).contains("whsec") } == true)
        #expect(try sealing.open(name: "inbound-source:relay", wrapping: wrapping, value: value) == secret)
        #expect(throws: Refusal.self, "moved under another name") { try sealing.open(name: "inbound-source:other", wrapping: wrapping, value: value) }
        #expect(throws: Refusal.self, "another key") {
            try SecretSealing(key: SymmetricKey(size: .bits256)).open(name: "inbound-source:relay", wrapping: wrapping, value: value)
        }
        #expect(throws: Refusal.self, "no key") { try SecretSealing(key: nil).open(name: "inbound-source:relay", wrapping: wrapping, value: value) }
        #expect(throws: Refusal.self, "unknown wrapping") { try sealing.open(name: "inbound-source:relay", wrapping: "rot13", value: value) }
    }

    @Test func withoutAKeySecretsAreStoredAsTheyAre() throws {
        let (wrapping, value) = try SecretSealing(key: nil).seal(name: "n", secret: [1, 2, 3])
        #expect(wrapping == "none")
        #expect(try SecretSealing(key: nil).open(name: "n", wrapping: wrapping, value: value) == [1, 2, 3])
    }

    @Test func theKeyComesFromTheEnvironmentAsThirtyTwoBytesOfBase64() throws {
        #expect(try SecretSealing(environment: [:]).key == nil)
        let good = Data((0..<32).map { UInt8($0) }).base64EncodedString()
        #expect(try SecretSealing(environment: ["ARBITER_KEY_ENCRYPTION_KEY": good]).key != nil)
        #expect(throws: Refusal.self) { try SecretSealing(environment: ["ARBITER_KEY_ENCRYPTION_KEY": "c2hvcnQ="]) }
    }
}
