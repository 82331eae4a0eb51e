import ArbiterCore
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// Two real `arbiter serve` processes on one PostgreSQL database; one is killed with SIGKILL
/// while 16 clients submit events through both. Runs when a cluster is there.
@Suite(.timeLimit(.minutes(5)), .enabled(if: TestDatabase.postgresCluster != nil))
struct FailoverTests {
    typealias Server = CrashSafetyTests.Server
    typealias Client = CrashSafetyTests.Client

    @Test func nothingAcknowledgedIsLostAndTheSurvivorDeliversWhenAnInstanceDies() async throws {
        let database = try await TestDatabase.make(on: try #require(TestDatabase.postgresCluster))
        defer { database.close() }
        guard case .postgres(_, let url) = database else { return }
        let erp = try await FakeERP.start()
        defer { Task { await erp.stop() } }
        let policies = try DeliveryTests.approveAllPolicies()
        let exports = scratchDirectory()
        func start(_ port: Int) throws -> Server {
            // Short leases: the survivor takes over the dead instance's deliveries within seconds.
            try Server(dataDirectory: scratchDirectory(), port: port, policies: policies,
                       arguments: ["--database", url, "--erp-url", erp.url, "--delivery-lease-s", "2", "--exports-dir", exports],
                       environment: ["ARBITER_ERP_SECRET": DeliveryTests.secret])
        }
        let first = try FakeERP.freePort()
        var second = try FakeERP.freePort()
        while second == first { second = try FakeERP.freePort() }
        let ports = (first, second)
        let victim = try start(ports.0)
        let survivor = try start(ports.1)
        defer {
            victim.kill()
            survivor.kill()
        }
        // Made after everything that can throw: a client not shut down traps in debug builds.
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            try await run(http: http, erp: erp, database: database,
                          clients: (Client(http: http, base: "http://127.0.0.1:\(ports.0)"), Client(http: http, base: "http://127.0.0.1:\(ports.1)")),
                          victim: victim, survivor: survivor)
        } catch {
            try? await http.shutdown()
            throw error
        }
        try await http.shutdown()
    }

    func run(http: HTTPClient, erp: FakeERP, database: TestDatabase, clients: (Client, Client), victim: Server,
             survivor: Server) async throws {
        try await clients.0.waitUntilReady(victim)
        try await clients.1.waitUntilReady(survivor)
        let submitter = try await clients.0.key("submitter")

        // 16 clients, half on each instance, submit as fast as they can; one instance is killed
        // while they do (its clients stop at their first failed request).
        let acknowledged = Locked<[(eventId: String, decisionId: String, actions: [String])]>([])
        let stop = Locked(false)
        let load = Task {
            await withTaskGroup(of: Void.self) { group in
                for worker in 0..<16 {
                    let client = worker.isMultiple(of: 2) ? clients.0 : clients.1
                    group.addTask {
                        for n in 0..<400 where !stop.withLock({ $0 }) {
                            let envelope = CanonicalJSON.string(.object(validEnvelope(
                                "credit.requested", id: "failover-\(worker)-\(n)", account: "acct_\(n % 12)",
                                payload: ["amount_minor": .int(Int64(100 + n))])))
                            guard let (status, body, _) = try? await client.send(.POST, "/v1/events", key: submitter, body: envelope,
                                                                                 timeout: .seconds(5)) else { return }
                            if status == 201, let eventId = body["event_id"]?.stringValue, let decisionId = body["decision"]?["id"]?.stringValue {
                                let actions = body["decision"]?["actions"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
                                acknowledged.withLock { $0.append((eventId, decisionId, actions)) }
                            }
                        }
                    }
                }
            }
        }
        #expect(try await eventually(timeout: .seconds(60)) { acknowledged.withLock { $0.count } >= 400 })
        victim.kill()
        // The survivor goes on deciding (its clients keep sending); then the load stops.
        let atKill = acknowledged.withLock { $0.count }
        #expect(try await eventually(timeout: .seconds(60)) { acknowledged.withLock { $0.count } >= atKill + 100 },
                "the survivor answers after the other instance died")
        stop.withLock { $0 = true }
        await load.value
        let acked = acknowledged.withLock { $0 }

        // Every acknowledged event is there with its decision and its audit entries.
        let events = Set(try await database.strings("SELECT id FROM events").compactMap { $0 })
        let decisions = Set(try await database.strings("SELECT id FROM decisions").compactMap { $0 })
        let audited = Set(try await database.strings("SELECT subject FROM audit_log WHERE kind = 'decision.made'").compactMap { $0 })
        for ack in acked {
            #expect(events.contains(ack.eventId))
            #expect(decisions.contains(ack.decisionId))
            #expect(audited.contains(ack.decisionId))
        }
        #expect(try await database.verifyAudit().isIntact)
        let (_, verified, _) = try await clients.1.send(.GET, "/v1/audit/verify", key: CrashSafetyTests.admin)
        #expect(verified["status"] == "intact", "\(verified)")

        // The survivor delivers what is pending, the dead instance's leased actions included.
        let queued = try await database.count("SELECT COUNT(*) FROM outbox_actions")
        #expect(queued >= acked.flatMap(\.actions).count)
        let delivered = try await eventually(timeout: .seconds(60)) {
            try await database.count("SELECT COUNT(*) FROM outbox_actions WHERE status = 'delivered'") == queued
        }
        let pending = try await database.count("SELECT COUNT(*) FROM outbox_actions WHERE status <> 'delivered'")
        #expect(delivered, "\(pending) of \(queued) actions not delivered")
        // Each action reached the ERP under its own key only: a resend after the takeover
        // carries the same key, never another.
        let receipts = erp.receipts
        var keysByAction: [String: Set<String>] = [:]
        for receipt in receipts {
            let action = receipt.json["id"]?.stringValue ?? "?"   // the payload names its action
            keysByAction[action, default: []].insert(receipt.key)
        }
        #expect(keysByAction.values.allSatisfy { $0.count == 1 }, "an action sent under two keys")
        #expect(Set(receipts.map(\.key)).count == queued, "every action reached the ERP")
    }
}
