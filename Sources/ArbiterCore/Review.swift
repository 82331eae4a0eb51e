import Foundation

/// Where a review item stands. `open`, `claimed` and `escalated` are waiting for a reviewer;
/// `approved` and `rejected` are final.
public enum ReviewState: String, Sendable, CaseIterable {
    case open
    case claimed
    case escalated
    case approved
    case rejected

    public var isDecided: Bool { self == .approved || self == .rejected }

    /// The states of items still waiting for a reviewer.
    public static let waiting: [ReviewState] = [.open, .claimed, .escalated]
}

/// How a queue is worked: its default SLA, where overdue items go, and when two reviewers are
/// needed. Read from the queue configuration (`queues.json`); a queue nobody configured uses
/// ``ReviewSettings/defaultQueue``.
public struct QueueSettings: Sendable, Hashable {
    /// The SLA of items whose policy set none.
    public var slaSeconds: Int64?
    /// The queue overdue items move to (escalated in place when nil).
    public var escalateTo: String?
    /// Items proposing more money than this (minor units, all money actions together) need at
    /// least two distinct approvals, whatever the policy said.
    public var twoApprovalsOverMinor: Int64?

    public init(slaSeconds: Int64? = nil, escalateTo: String? = nil, twoApprovalsOverMinor: Int64? = nil) {
        self.slaSeconds = slaSeconds
        self.escalateTo = escalateTo
        self.twoApprovalsOverMinor = twoApprovalsOverMinor
    }
}

/// The review rules the service is configured with.
public struct ReviewSettings: Sendable, Hashable {
    /// How long a claim holds before another reviewer may take the item.
    public var claimSeconds: Int64
    public var defaultQueue: QueueSettings
    public var queues: [String: QueueSettings]

    public init(claimSeconds: Int64 = 30 * 60, defaultQueue: QueueSettings = QueueSettings(slaSeconds: 24 * 3600),
                queues: [String: QueueSettings] = [:]) {
        self.claimSeconds = claimSeconds
        self.defaultQueue = defaultQueue
        self.queues = queues
    }

    public func queue(_ name: String) -> QueueSettings {
        guard var settings = queues[name] else { return defaultQueue }
        if settings.slaSeconds == nil { settings.slaSeconds = defaultQueue.slaSeconds }
        return settings
    }

    /// A review decision with the queue's rules applied: the queue's SLA when the policy set
    /// none, and two approvals when the money is over the queue's threshold. Other outcomes
    /// are returned as they are.
    public func applying(to decision: Decision) -> Decision {
        guard decision.outcome == .review else { return decision }
        var decision = decision
        let settings = queue(decision.queue ?? Queue.defaultReview)
        if decision.slaSeconds == nil { decision.slaSeconds = settings.slaSeconds }
        decision.approvalsRequired = max(1, decision.approvalsRequired)
        if let threshold = settings.twoApprovalsOverMinor, decision.actions.moneyByCurrency.values.contains(where: { $0 > threshold }) {
            decision.approvalsRequired = max(2, decision.approvalsRequired)
        }
        return decision
    }

    /// Reads the queue configuration:
    /// `{"claim_minutes": 30, "default": {"sla_hours": 24}, "queues": {"credits": {"sla_hours": 8,
    /// "escalate_to": "credits-leads", "two_approvals_over_minor": 100000}}}`. Every field is
    /// optional; unknown fields are errors (a typo must not silently drop a control).
    public static func parse(_ json: JSONValue) throws -> ReviewSettings {
        var errors: [FieldError] = []
        var settings = ReviewSettings()
        guard let root = json.objectValue else { throw Refusal.invalid([FieldError("", "must be a JSON object")]) }
        for key in root.keys where !["claim_minutes", "default", "queues"].contains(key) {
            errors.append(FieldError(key, "unknown field (expected claim_minutes, default, queues)"))
        }
        if let minutes = root["claim_minutes"] {
            if let value = minutes.doubleValue, value > 0, value <= 7 * 24 * 60 { settings.claimSeconds = max(1, Int64(value * 60)) }
            else { errors.append(FieldError("claim_minutes", "must be a number of minutes above 0 and at most 10080")) }
        }
        func queueSettings(_ value: JSONValue, path: String) -> QueueSettings {
            var queue = QueueSettings()
            guard let fields = value.objectValue else {
                errors.append(FieldError(path, "must be an object"))
                return queue
            }
            for key in fields.keys where !["sla_hours", "escalate_to", "two_approvals_over_minor"].contains(key) {
                errors.append(FieldError("\(path).\(key)", "unknown field (expected sla_hours, escalate_to, two_approvals_over_minor)"))
            }
            if let sla = fields["sla_hours"] {
                if let hours = sla.doubleValue, hours > 0, hours <= 8784 { queue.slaSeconds = max(1, Int64(hours * 3600)) }
                else { errors.append(FieldError("\(path).sla_hours", "must be a number of hours above 0 and at most 8784")) }
            }
            if let target = fields["escalate_to"] {
                if let name = target.stringValue, !name.isEmpty { queue.escalateTo = name }
                else { errors.append(FieldError("\(path).escalate_to", "must be a queue name")) }
            }
            if let threshold = fields["two_approvals_over_minor"] {
                if case .int(let minor) = threshold, minor >= 0 { queue.twoApprovalsOverMinor = minor }
                else { errors.append(FieldError("\(path).two_approvals_over_minor", "must be a non-negative integer amount in minor units")) }
            }
            return queue
        }
        if let value = root["default"] { settings.defaultQueue = queueSettings(value, path: "default") }
        if let value = root["queues"] {
            if let queues = value.objectValue {
                for (name, queue) in queues { settings.queues[name] = queueSettings(queue, path: "queues.\(name)") }
            } else {
                errors.append(FieldError("queues", "must be an object of queue name to settings"))
            }
        }
        if !errors.isEmpty { throw Refusal.invalid(errors) }
        return settings
    }
}

/// The reviewer acting on an item, as the rules see it.
public struct Reviewer: Sendable, Hashable {
    public let id: String
    public let isAdmin: Bool
    /// The most money (minor units, all money actions of one item together) this reviewer may
    /// approve, by currency. Nil: no limit. Money in a currency missing here cannot be approved.
    public let approvalLimits: [String: Int64]?

    public init(id: String, isAdmin: Bool, approvalLimits: [String: Int64]?) {
        self.id = id
        self.isAdmin = isAdmin
        self.approvalLimits = approvalLimits
    }
}

extension Reviewer {
    /// Approval limits as the keys API takes them: `{"USD": 50000, "EUR": 40000}` (currency
    /// codes to non-negative minor units); errors name `field.<code>`.
    public static func limits(from json: JSONValue, field: String = "approval_limits") throws(Refusal) -> [String: Int64] {
        guard let object = json.objectValue, !object.isEmpty else {
            throw Refusal.invalid([FieldError(field, "must be an object of ISO 4217 currency code to minor units, e.g. {\"USD\": 50000}")])
        }
        var limits: [String: Int64] = [:]
        var errors: [FieldError] = []
        for (code, value) in object.sorted(by: { $0.key < $1.key }) {
            guard Currency(code) != nil else {
                errors.append(FieldError("\(field).\(code)", "is not an ISO 4217 currency code"))
                continue
            }
            guard case .int(let minor) = value.integralAsInt, minor >= 0, minor <= Money.maximumMinorUnits else {
                errors.append(FieldError("\(field).\(code)", "must be a non-negative integer number of minor units"))
                continue
            }
            limits[code] = minor
        }
        if !errors.isEmpty { throw Refusal.invalid(errors) }
        return limits
    }

    /// One limit as the CLI takes it: `USD:50000`.
    public static func limit(flag: String) throws(Refusal) -> (currency: String, minor: Int64) {
        let parts = flag.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2, let minor = Int64(parts[1]) else {
            throw Refusal.invalid([FieldError("approval-limit", "\(flag): expected CURRENCY:MINOR, e.g. USD:50000")])
        }
        let limits = try Self.limits(from: .object([parts[0]: .int(minor)]), field: "approval-limit")
        return (parts[0], limits[parts[0]] ?? minor)
    }
}

/// One approval given on an item.
public struct ReviewApproval: Sendable, Hashable {
    public let reviewer: String
    /// The money this reviewer agreed to, in the item's currency (nil when the item moves no
    /// money, or money in several currencies: then it is approved whole).
    public let amountMinor: Int64?

    public init(reviewer: String, amountMinor: Int64?) {
        self.reviewer = reviewer
        self.amountMinor = amountMinor
    }
}

/// What a reviewer asks to do with an item.
public enum ReviewCommand: Sendable, Hashable {
    case claim
    case release
    case approve(comment: String?, amountMinor: Int64?)
    case reject(comment: String)
    /// Admin only: give the item's claim to another reviewer.
    case assign(to: Reviewer, comment: String?)

    /// The history and audit name of the command.
    public var action: String {
        switch self {
        case .claim: "claimed"
        case .release: "released"
        case .approve: "approved"
        case .reject: "rejected"
        case .assign: "reassigned"
        }
    }
}

/// A review item as the rules need it.
public struct ReviewItem: Sendable, Hashable {
    public var id: String
    public var queue: String
    public var state: ReviewState
    public var submittedBy: String
    public var approvalsRequired: Int
    public var approvals: [ReviewApproval]
    public var claimedBy: String?
    public var claimExpiresAt: Date?
    public var escalatedAt: Date?
    /// The actions the policies proposed (with their ids), as decided.
    public var proposedActions: [JSONValue]

    public init(id: String, queue: String, state: ReviewState, submittedBy: String, approvalsRequired: Int,
                approvals: [ReviewApproval], claimedBy: String?, claimExpiresAt: Date?, escalatedAt: Date?,
                proposedActions: [JSONValue]) {
        self.id = id
        self.queue = queue
        self.state = state
        self.submittedBy = submittedBy
        self.approvalsRequired = approvalsRequired
        self.approvals = approvals
        self.claimedBy = claimedBy
        self.claimExpiresAt = claimExpiresAt
        self.escalatedAt = escalatedAt
        self.proposedActions = proposedActions
    }

    /// The reviewer holding a live claim at `now`; nil when unclaimed or the claim expired.
    public func claimant(at now: Date) -> String? {
        guard state == .claimed, let claimedBy, let expires = claimExpiresAt, expires > now else { return nil }
        return claimedBy
    }

    /// The state an unclaimed waiting item is in.
    public var unclaimedState: ReviewState { escalatedAt == nil ? .open : .escalated }

    /// The money the proposed actions move, by currency, in minor units (empty when none).
    public var proposedMoney: [String: Int64] {
        var totals: [String: Int64] = [:]
        for action in proposedActions where Self.movesMoney(action) {
            totals[action["currency"]?.stringValue ?? "", default: 0] += action["amount_minor"]?.intValue ?? 0
        }
        return totals
    }

    /// The money proposed when it is in one currency (nil when none, or several).
    public var proposedMoneyMinor: Int64? {
        let money = proposedMoney
        return money.count == 1 ? money.first?.value : nil
    }

    /// An amount as people read it ("1500.00 USD").
    public static func describe(_ minor: Int64, _ code: String) -> String {
        guard let currency = Currency(code) else { return "\(minor) \(code) (minor units)" }
        return Money(amountMinor: minor, currency: currency).description
    }

    static func movesMoney(_ action: JSONValue) -> Bool {
        action["type"]?.stringValue.flatMap(ActionType.init(rawValue:))?.movesMoney ?? false
    }
}

/// What a permitted command does to an item.
public struct ReviewTransition: Sendable, Hashable {
    public var state: ReviewState
    public var claimedBy: String?
    public var claimExpiresAt: Date?
    /// Set for an approval: the money it agrees to.
    public var approval: ReviewApproval?
    /// Set on the final approval: the actions that go to the outbox (amounts scaled down when
    /// a reviewer approved less than proposed).
    public var approvedActions: [JSONValue]?
    /// The money approved, when the item moves money in one currency.
    public var approvedAmountMinor: Int64?
}

/// The controls on review items, enforced here and only here: no self-review, one claimer at
/// a time, approval limits, distinct approvers, one final outcome.
public enum ReviewRules {
    public static func apply(_ command: ReviewCommand, to item: ReviewItem, by reviewer: Reviewer, now: Date,
                             settings: ReviewSettings) throws(Refusal) -> ReviewTransition {
        if item.state.isDecided {
            throw Refusal.conflict("this item is already \(item.state.rawValue); nothing more can be done with it")
        }
        let claimant = item.claimant(at: now)
        let claimUntil = now.addingTimeInterval(TimeInterval(settings.claimSeconds))
        switch command {
        case .claim:
            try mayReview(item, reviewer)
            if let claimant, claimant != reviewer.id {
                throw Refusal.conflict("this item is claimed by \(claimant) until \(Timestamp.format(item.claimExpiresAt!)); wait for them to release it or for the claim to expire")
            }
            return ReviewTransition(state: .claimed, claimedBy: reviewer.id, claimExpiresAt: claimUntil)

        case .release:
            guard let claimant else { throw Refusal.conflict("this item is not claimed") }
            guard claimant == reviewer.id || reviewer.isAdmin else {
                throw Refusal.forbidden("only \(claimant), who claimed this item, or an admin can release it")
            }
            return ReviewTransition(state: item.unclaimedState)

        case .assign(let target, _):
            guard reviewer.isAdmin else { throw Refusal.forbidden("only an admin can reassign an item") }
            try mayReview(item, target)
            return ReviewTransition(state: .claimed, claimedBy: target.id, claimExpiresAt: claimUntil)

        case .reject(let comment):
            try mayReview(item, reviewer)
            try mayDecide(claimant, reviewer)
            if comment.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                throw Refusal.invalid("comment", "a rejection needs a comment saying why")
            }
            return ReviewTransition(state: .rejected)

        case .approve(_, let amountMinor):
            try mayReview(item, reviewer)
            try mayDecide(claimant, reviewer)
            let proposed = item.proposedMoney
            var agreed = proposed
            // Several currencies: approved whole (there is no one amount to lower).
            let single = proposed.count == 1 ? proposed.first : nil
            if let amountMinor {
                guard !proposed.isEmpty else {
                    throw Refusal.invalid("amount_minor", "this item proposes no money, so there is no amount to lower")
                }
                guard let single else {
                    throw Refusal.invalid("amount_minor", "this item moves money in \(proposed.keys.sorted().joined(separator: " and ")); approve it whole or reject it")
                }
                guard amountMinor > 0 else {
                    throw Refusal.invalid("amount_minor", "must be a positive number of minor units; to pay nothing, reject")
                }
                guard amountMinor <= single.value else {
                    throw Refusal.invalid("amount_minor", "\(ReviewItem.describe(amountMinor, single.key)) is more than the \(ReviewItem.describe(single.value, single.key)) proposed; a reviewer may approve less, never more")
                }
                agreed[single.key] = amountMinor
            }
            // With several approvers each agrees to at most their amount: the lowest stands.
            if let single, let earlier = item.approvals.compactMap(\.amountMinor).min() {
                agreed[single.key] = min(earlier, agreed[single.key] ?? earlier)
            }
            if let limits = reviewer.approvalLimits {
                for (currency, minor) in agreed.sorted(by: { $0.key < $1.key }) {
                    guard let limit = limits[currency] else {
                        throw Refusal.forbidden("you have no approval limit in \(currency), so you cannot approve \(ReviewItem.describe(minor, currency)); leave the item to a reviewer with one")
                    }
                    if minor > limit {
                        throw Refusal.forbidden("approving \(ReviewItem.describe(minor, currency)) is over your approval limit of \(ReviewItem.describe(limit, currency)); approve a lower amount or leave the item to a reviewer with a higher limit")
                    }
                }
            }
            let agreedSingle = single.flatMap { agreed[$0.key] }
            let approval = ReviewApproval(reviewer: reviewer.id, amountMinor: agreedSingle)
            guard item.approvals.count + 1 >= item.approvalsRequired else {
                // Not the last approval: the claim is released for the next, different reviewer.
                return ReviewTransition(state: item.unclaimedState, approval: approval)
            }
            let actions = try scale(item.proposedActions, to: agreed, from: proposed)
            return ReviewTransition(state: .approved, approval: approval, approvedActions: actions, approvedAmountMinor: agreedSingle)
        }
    }

    /// Nobody reviews what they submitted, and every approval on one item is by someone else.
    static func mayReview(_ item: ReviewItem, _ reviewer: Reviewer) throws(Refusal) {
        if item.submittedBy == reviewer.id {
            throw Refusal.forbidden("\(reviewer.id) submitted this request and so cannot review it; another reviewer must")
        }
        if item.approvals.contains(where: { $0.reviewer == reviewer.id }) {
            throw Refusal.forbidden("\(reviewer.id) has already approved this item; it needs \(item.approvalsRequired) approvals from different reviewers")
        }
    }

    /// A claimed item is decided only by its claimer; an unclaimed one by any reviewer.
    static func mayDecide(_ claimant: String?, _ reviewer: Reviewer) throws(Refusal) {
        if let claimant, claimant != reviewer.id {
            throw Refusal.conflict("this item is claimed by \(claimant); only they can decide it while the claim holds")
        }
    }

    /// The proposed actions with the money actions of each currency scaled from `proposed`
    /// down to `agreed` in proportion. Each share is rounded down, and the minor units left
    /// over go one each to the actions with the largest remainders (a share with a remainder
    /// is below its proposed amount, so one more unit never lifts it above): the total is
    /// exact and no action ever exceeds what was proposed for it.
    static func scale(_ actions: [JSONValue], to agreed: [String: Int64], from proposed: [String: Int64]) throws(Refusal) -> [JSONValue] {
        var scaled = actions
        for (currency, total) in proposed.sorted(by: { $0.key < $1.key }) {
            guard let target = agreed[currency], target != total, total > 0 else { continue }
            let indices = actions.indices.filter { ReviewItem.movesMoney(actions[$0]) && actions[$0]["currency"]?.stringValue == currency }
            var shares: [(index: Int, original: Int64, amount: Int64, remainder: Int64)] = []
            for i in indices {
                let original = actions[i]["amount_minor"]?.intValue ?? 0
                // original × target / total, exactly: both are below 10^15, the product fits 128 bits.
                let product = original.multipliedFullWidth(by: target)
                let (quotient, remainder) = total.dividingFullWidth(product)
                shares.append((i, original, quotient, remainder))
            }
            var left = target - shares.reduce(0) { $0 + $1.amount }
            for n in shares.indices.sorted(by: { shares[$0].remainder > shares[$1].remainder || (shares[$0].remainder == shares[$1].remainder && $0 < $1) }) where left > 0 {
                shares[n].amount += 1
                left -= 1
            }
            for share in shares {
                guard share.amount > 0 else {
                    throw Refusal.invalid("amount_minor", "\(ReviewItem.describe(target, currency)) is too small to split across the \(shares.count) money actions proposed")
                }
                guard var fields = actions[share.index].objectValue else { continue }
                fields["amount_minor"] = .int(share.amount)
                fields["proposed_amount_minor"] = .int(share.original)
                scaled[share.index] = .object(fields)
            }
        }
        return scaled
    }
}
