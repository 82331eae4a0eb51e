-- Failed payments: suspend accounts that are well past due. Enterprise accounts are never
-- suspended automatically: they go to the collections team.
--
--   * accounts already suspended or closed                     -> nothing to do
--   * accounts Arbiter does not know                            -> review (collections)
--   * 30 or more days past due with 50.00 or more open, or the
--     4th failed payment within 30 days:
--       - enterprise accounts                                   -> review (collections)
--       - other accounts                                        -> approve: suspend the account
--   * otherwise                                                 -> nothing to do yet

local SUSPEND_AFTER_DAYS_PAST_DUE = 30
local SUSPEND_FROM_OPEN_BALANCE = 5000    -- 50.00
local SUSPEND_AT_FAILED_PAYMENTS = 4      -- counting this one, within 30 days

return {
  name = "payment_suspension",
  on = { "payment.failed" },
  priority = 100,

  decide = function(event, ctx)
    local p = event.payload
    local account, history = ctx.account, ctx.history

    if account.status == "suspended" or account.status == "closed" then
      return approve{ reasons = { "account is already " .. account.status } }
    end
    if account.status == "unknown" then
      return review{ queue = "collections", reasons = { "failed payment on " .. p.invoice_id .. " for an account unknown to Arbiter" } }
    end

    local failures = history.failed_payments_30d + 1
    local overdue = account.days_past_due >= SUSPEND_AFTER_DAYS_PAST_DUE
      and account.open_balance_minor >= SUSPEND_FROM_OPEN_BALANCE
    local repeated = failures >= SUSPEND_AT_FAILED_PAYMENTS
    if not overdue and not repeated then
      return approve{ reasons = { "failed payment " .. failures .. " in 30 days, " .. account.days_past_due
        .. " days past due: below the suspension thresholds" } }
    end

    local why = overdue
      and (account.days_past_due .. " days past due with " .. money(account.open_balance_minor, p.currency) .. " open")
      or (failures .. " failed payments in 30 days")
    if account.tier == "enterprise" then
      -- Collections decide; approving the review suspends.
      return review{ queue = "collections", reasons = { why .. ": enterprise accounts go to collections, not automatic suspension" }, sla_hours = 24,
                     actions = { account_suspension{ reason = why, invoice_id = p.invoice_id } } }
    end
    return approve{
      reasons = { why .. ": suspending" },
      actions = { account_suspension{ reason = why, invoice_id = p.invoice_id } },
    }
  end,
}
