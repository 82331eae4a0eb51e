import ArbiterApp
import ArbiterCore
import Foundation
import Hummingbird

/// `/v1/accounts/{id}`: the snapshot Arbiter keeps of an account, and its sync from CRM/ERP.
struct AccountsController {
    let accounts: Accounts

    var endpoints: RouteCollection<AppRequestContext> {
        RouteCollection(context: AppRequestContext.self)
            .get(":id", use: get)
            .put(":id", use: put)
    }

    /// The snapshot (status `unknown` for an account never seen) and the history aggregates.
    func get(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(Role.readers)
        let id = try Self.accountId(context)
        let (account, history, refs) = try await accounts.get(id: id)
        return JSONResponse(Self.json(account, history, refs))
    }

    /// Replaces the snapshot: `{"status", "tier"?, "mrr_minor"?, "currency"?, "open_balance_minor"?,
    /// "days_past_due"?, "entitlements"?, "external_refs"?}`; absent numbers are 0, absent lists
    /// empty; absent `external_refs` leaves the account's references as they are.
    func put(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let caller = try context.require(.sync, .operator)
        let id = try Self.accountId(context)
        let body = try await JSONBody.object(request, context: context)
        let account = try AccountSyncRequest.snapshot(id: id, from: body)
        let refs = try AccountSyncRequest.externalRefs(body["external_refs"])
        let history = try await accounts.sync(account, externalRefs: refs, by: caller.id)
        let stored = if let refs { refs } else { try await accounts.externalRefs(of: id) }
        return JSONResponse(Self.json(account, history, stored))
    }

    /// The account id of the path: 1-200 characters, as events carry it.
    static func accountId(_ context: AppRequestContext) throws -> String {
        let id = try context.parameters.require("id")
        guard !id.isEmpty, id.schemaLength <= 200 else { throw Refusal.invalid("id", "must be 1-200 characters") }
        return id
    }

    static func json(_ account: AccountSnapshot, _ history: HistoryAggregates, _ refs: [String: String]) -> JSONValue {
        let h = history
        var accountJSON = account.json.objectValue ?? [:]
        accountJSON["external_refs"] = .object(refs.mapValues(JSONValue.string))
        return .object([
            "account": .object(accountJSON),
            "history": .object([
                "credits_30d_minor": .int(h.credits30dMinor), "credits_90d_minor": .int(h.credits90dMinor),
                "credits_365d_minor": .int(h.credits365dMinor), "credit_count_90d": .int(h.creditCount90d),
                "refunds_90d_minor": .int(h.refunds90dMinor), "open_disputes": .int(h.openDisputes),
                "failed_payments_30d": .int(h.failedPayments30d),
            ]),
        ])
    }
}
