-- Refunds: which refund requests are paid back without a person looking at them.
--
--   * accounts Arbiter does not know                         -> review (refunds queue)
--   * a refund in another currency than the account's        -> review
--   * accounts with 2 or more failed payments in 30 days     -> review (payment risk)
--   * a refund within the tier's limit that keeps the 90-day
--     refund total within the tier's cap                     -> approve, refund to the payment
--   * anything else                                          -> review; 1,000.00 or more needs
--                                                               two reviewers
--
-- Amounts are integer minor units in the account's currency.

local AUTO_REFUND_LIMIT = {    -- largest refund paid without review, per tier
  free = 0,
  standard = 10000,    --  100.00
  premium = 50000,     --  500.00
  enterprise = 100000, -- 1000.00
}

local REFUND_CAP_90D = {       -- most refunded in 90 days without review, per tier
  free = 0,
  standard = 20000,    --  200.00
  premium = 100000,    -- 1000.00
  enterprise = 300000, -- 3000.00
}

local RISKY_FAILED_PAYMENTS = 2
local TWO_REVIEWERS_FROM = 100000   -- 1,000.00

local function refund_for(p)
  return refund{ amount_minor = p.amount_minor, currency = p.currency, payment_id = p.payment_id, memo = p.reason }
end

-- A review proposes the refund a reviewer's approval sends (none for a currency mismatch).
local function review_refund(p, reason, propose)
  return review{
    queue = "refunds",
    reasons = { reason },
    sla_hours = 24,
    approvals_required = p.amount_minor >= TWO_REVIEWERS_FROM and 2 or 1,
    actions = propose ~= false and { refund_for(p) } or nil,
  }
end

return {
  name = "refund_limits",
  on = { "refund.requested" },
  priority = 100,

  decide = function(event, ctx)
    local p = event.payload
    local account, history = ctx.account, ctx.history
    local amount, currency = p.amount_minor, p.currency

    if account.status == "unknown" then
      return review_refund(p, "account " .. account.id .. " is unknown to Arbiter")
    end
    if account.currency ~= nil and account.currency ~= null and account.currency ~= currency then
      return review_refund(p, "refund currency " .. currency .. " differs from account currency " .. account.currency, false)
    end
    if history.failed_payments_30d >= RISKY_FAILED_PAYMENTS then
      return review_refund(p, history.failed_payments_30d .. " failed payments in the last 30 days")
    end

    local limit = AUTO_REFUND_LIMIT[account.tier] or 0
    if amount > limit then
      return review_refund(p, "refund of " .. money(amount, currency) .. " is over the "
        .. tostring(account.tier) .. " auto-refund limit of " .. money(limit, currency))
    end
    local after = history.refunds_90d_minor + amount
    local cap = REFUND_CAP_90D[account.tier] or 0
    if after > cap then
      return review_refund(p, "refunds in 90 days would reach " .. money(after, currency)
        .. ", over the " .. account.tier .. " cap of " .. money(cap, currency))
    end

    return approve{
      reasons = { "refund of " .. money(amount, currency) .. " is within the " .. account.tier .. " limit and the 90-day cap" },
      actions = { refund_for(p) },
    }
  end,
}
