-- A CRM's account changes as Arbiter account updates: Salesforce Change Data Capture events
-- (https://developer.salesforce.com/docs/atlas.en-us.change_data_capture.meta/change_data_capture/cdc_event_fields_header.htm)
-- relayed as JSON and signed with HMAC-SHA256 (X-Signature: sha256=<hex>). An update carries only
-- the fields that changed; Arbiter changes only those.
--
-- The account is the one whose Arbiter id the CRM keeps (Arbiter_Account_Id__c), else the one
-- whose external_refs.salesforce is the record id. Fields:
--   Billing_Status__c  -> status ("Active", "Past Due", "Suspended", "Closed")
--   Tier__c            -> tier
--   CurrencyIsoCode    -> currency
--   Entitlements__c    -> entitlements ("api;sso": a multi-select picklist)

local function present(v) return v ~= nil and v ~= null end

local STATUSES = { ["Active"] = "active", ["Past Due"] = "past_due", ["Suspended"] = "suspended", ["Closed"] = "closed" }

local function picklist(text)
  local items = {}
  for item in string.gmatch(text, "[^;]+") do items[#items + 1] = item end
  return items
end

return {
  name = "crm_accounts",
  map = function(request)
    local body = request.body
    if not present(body) or not present(body.ChangeEventHeader) then
      return reject("not a Change Data Capture event: ChangeEventHeader is missing")
    end
    local header = body.ChangeEventHeader
    if header.entityName ~= "Account" then return ignore("a change of " .. tostring(header.entityName) .. ", not of an Account") end
    if header.changeType == "DELETE" or header.changeType == "GAP_DELETE" then
      return ignore("an account deleted in the CRM: Arbiter keeps it (set Billing_Status__c to Closed to close it)")
    end
    if not present(header.recordIds) or #header.recordIds == 0 then return reject("ChangeEventHeader.recordIds is empty") end
    local fields = {}
    if present(body.Billing_Status__c) then
      local status = STATUSES[body.Billing_Status__c]
      if status == nil then return reject("Billing_Status__c '" .. body.Billing_Status__c .. "' is not one Arbiter knows") end
      fields.status = status
    end
    if present(body.Tier__c) then fields.tier = body.Tier__c end
    if present(body.CurrencyIsoCode) then fields.currency = body.CurrencyIsoCode end
    if present(body.Entitlements__c) then fields.entitlements = picklist(body.Entitlements__c) end
    local updates = {}
    for _, record in ipairs(header.recordIds) do
      local update = {}
      for k, v in pairs(fields) do update[k] = v end
      if present(body.Arbiter_Account_Id__c) and #header.recordIds == 1 then
        update.id = body.Arbiter_Account_Id__c
        update.external_refs = { salesforce = record }
      else
        update.customer = { system = "salesforce", ref = record }
      end
      updates[#updates + 1] = account(update)
    end
    return updates
  end,
}
