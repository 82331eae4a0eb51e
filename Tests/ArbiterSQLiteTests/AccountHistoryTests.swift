import ArbiterCore
import ArbiterSQLite
import Foundation
import GRDB
import Testing

/// History aggregates come from Arbiter's own records: outbox money actions, open dispute
/// reviews and failed-payment events, each over its window.
@Suite(.timeLimit(.minutes(5))) struct AccountHistoryTests {
    let now = Date(timeIntervalSince1970: 1_790_000_000)

    func insertEvent(_ db: Database, id: String, type: String, account: String, daysAgo: Double) throws {
        let at = Timestamp.format(now.addingTimeInterval(-daysAgo * 86_400))
        try db.execute(
            sql: """
                INSERT INTO events (id, source, external_id, type, account_id, correlation_id, occurred_at, received_at, submitted_by, body_sha256, body)
                VALUES (?, 's', ?, ?, ?, 'c', ?, ?, 'k', '', '{}')
                """,
            arguments: [id, id, type, account, at, at])
        try db.execute(
            sql: """
                INSERT INTO decisions (id, event_id, account_id, outcome, reasons, actions, policies, context, response, decided_at, duration_us)
                VALUES (?, ?, ?, 'review', '[]', '[]', '[]', '{}', '{}', ?, 0)
                """,
            arguments: ["d_" + id, id, account, at])
    }

    func insertAction(_ db: Database, event: String, type: String, account: String, amount: Int64, daysAgo: Double, status: String = "delivered") throws {
        try db.execute(
            sql: """
                INSERT INTO outbox_actions (id, decision_id, account_id, correlation_id, type, amount_minor, currency, payload, status, created_at)
                VALUES (?, ?, ?, 'c', ?, ?, 'USD', '{}', ?, ?)
                """,
            arguments: [UUID().uuidString, "d_" + event, account, type, amount, status,
                        Timestamp.format(now.addingTimeInterval(-daysAgo * 86_400))])
    }

    @Test func aggregatesCountEachWindow() async throws {
        let database = try AppDatabase.inMemory()
        let history = try await database.writer.write { db in
            try insertEvent(db, id: "e1", type: "credit.requested", account: "a", daysAgo: 1)
            try insertAction(db, event: "e1", type: "credit_memo", account: "a", amount: 100, daysAgo: 10)
            try insertAction(db, event: "e1", type: "credit_memo", account: "a", amount: 200, daysAgo: 60)
            try insertAction(db, event: "e1", type: "credit_memo", account: "a", amount: 400, daysAgo: 200)
            try insertAction(db, event: "e1", type: "credit_memo", account: "a", amount: 800, daysAgo: 400)
            try insertAction(db, event: "e1", type: "credit_memo", account: "a", amount: 1600, daysAgo: 5, status: "cancelled")
            try insertAction(db, event: "e1", type: "refund", account: "a", amount: 50, daysAgo: 20, status: "pending")
            try insertAction(db, event: "e1", type: "credit_memo", account: "b", amount: 9999, daysAgo: 1)
            try insertEvent(db, id: "f1", type: "payment.failed", account: "a", daysAgo: 3)
            try insertEvent(db, id: "f2", type: "payment.failed", account: "a", daysAgo: 45)
            try insertEvent(db, id: "x1", type: "invoice.disputed", account: "a", daysAgo: 2)
            try insertEvent(db, id: "x2", type: "invoice.disputed", account: "a", daysAgo: 2)
            for (event, state) in [("x1", "open"), ("x2", "approved")] {
                try db.execute(
                    sql: """
                        INSERT INTO review_items (id, decision_id, event_id, account_id, queue, state, submitted_by, created_at, updated_at)
                        VALUES (?, ?, ?, 'a', 'disputes', ?, 'k', 'now', 'now')
                        """,
                    arguments: ["r_" + event, "d_" + event, event, state])
            }
            return try AccountRows.history(db, accountId: "a", now: now)
        }
        #expect(history.credits30dMinor == 100)
        #expect(history.credits90dMinor == 300)
        #expect(history.credits365dMinor == 700)
        #expect(history.creditCount90d == 2)
        #expect(history.refunds90dMinor == 50)
        #expect(history.openDisputes == 1)
        #expect(history.failedPayments30d == 1)
    }
}
