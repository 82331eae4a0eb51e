-- Chargebee webhooks (https://apidocs.chargebee.com/docs/api/events) as Arbiter events.
-- Chargebee sends every event as {id, occurred_at, event_type, content = {...}} and
-- authenticates with HTTP Basic (configured on the webhook); amounts are in the currency's
-- minor unit. Customers resolve through external_refs.chargebee (Chargebee's customer id).
--
--   payment_failed        -> payment.failed     (the invoice due, its dunning attempts)
--   credit_note_created   -> credit.requested   (the credit note's total: policies decide
--                                                whether it goes to the ERP or to a person)
--   subscription_changed  -> subscription.changed (upgrade when Chargebee invoiced the change,
--                                                downgrade when it credited it, cancel when
--                                                cancelled; applied in occurred_at order)
--   anything else         -> ignored

local function present(v) return v ~= nil and v ~= null end

local function customer(id)
  return { system = "chargebee", ref = id }
end

local function payment_failed(e)
  local c = e.content
  local invoice, transaction = c.invoice, c.transaction
  if not present(invoice) then return reject("payment_failed without content.invoice") end
  local attempts = 1
  if present(invoice.dunning_attempts) and #invoice.dunning_attempts > 0 then attempts = #invoice.dunning_attempts end
  local code = "payment_failed"
  if present(transaction) and present(transaction.error_code) then code = transaction.error_code end
  return event{
    id = e.id, type = "payment.failed", occurred_at = e.occurred_at, customer = customer(invoice.customer_id),
    payload = { invoice_id = invoice.id, amount_minor = invoice.amount_due, currency = invoice.currency_code,
                attempt = attempts, failure_code = code },
  }
end

local function credit_note_created(e)
  local note = e.content.credit_note
  if not present(note) then return reject("credit_note_created without content.credit_note") end
  if not present(note.total) or note.total <= 0 then return ignore("credit note " .. note.id .. " has no amount") end
  local reason = note.create_reason_code
  if not present(reason) then reason = note.reason_code end
  if not present(reason) then reason = "credit note" end
  local payload = { amount_minor = note.total, currency = note.currency_code,
                    reason = "Chargebee credit note " .. note.id .. ": " .. reason, case_id = note.id }
  if present(note.reference_invoice_id) then payload.invoice_id = note.reference_invoice_id end
  return event{ id = e.id, type = "credit.requested", occurred_at = e.occurred_at, customer = customer(note.customer_id),
                payload = payload }
end

-- A month's worth of an item price.
local function monthly(amount, unit, count)
  count = (present(count) and count > 0) and count or 1
  if unit == "year" then return amount // (12 * count) end
  if unit == "week" then return amount * 52 // (12 * count) end
  if unit == "day" then return amount * 365 // (12 * count) end
  return amount // count
end

local function subscription_changed(e)
  local c = e.content
  local sub = c.subscription
  if not present(sub) then return reject("subscription_changed without content.subscription") end
  local change
  if sub.status == "cancelled" then change = "cancel"
  elseif present(c.credit_notes) and #c.credit_notes > 0 then change = "downgrade"
  elseif present(c.invoice) then change = "upgrade"
  else return ignore("subscription " .. sub.id .. " changed nothing that was charged or credited") end
  local mrr, tier = 0, nil
  if present(sub.mrr) then mrr = sub.mrr end
  if present(sub.subscription_items) then
    local sum = 0
    for _, item in ipairs(sub.subscription_items) do
      if item.item_type == "plan" or item.item_type == "addon" then
        local amount = present(item.amount) and item.amount or (item.unit_price or 0) * (item.quantity or 1)
        sum = sum + monthly(amount, sub.billing_period_unit, sub.billing_period)
        if item.item_type == "plan" and tier == nil then tier = item.item_price_id end
      end
    end
    if not present(sub.mrr) then mrr = sum end
  end
  if tier == nil and present(sub.plan_id) then tier = sub.plan_id end
  return event{
    id = e.id, type = "subscription.changed", occurred_at = e.occurred_at, customer = customer(sub.customer_id),
    order = { key = "subscription:" .. sub.id, at = e.occurred_at },
    payload = { subscription_id = sub.id, change = change, tier = tier or "unknown", mrr_minor = mrr,
                currency = sub.currency_code },
  }
end

local handlers = {
  payment_failed = payment_failed,
  credit_note_created = credit_note_created,
  subscription_changed = subscription_changed,
}

return {
  name = "chargebee",
  map = function(request)
    local e = request.body
    if not present(e) then return reject("the body is not a JSON object") end
    if not present(e.id) or not present(e.event_type) or not present(e.content) then
      return reject("not a Chargebee event: it needs id, event_type and content")
    end
    local handler = handlers[e.event_type]
    if handler == nil then return ignore("Chargebee event type " .. e.event_type .. " is not one Arbiter acts on") end
    return handler(e)
  end,
}
