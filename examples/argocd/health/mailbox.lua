-- Argo CD health for pot.dev/Mailbox. Argo CD runs this with only the base, table, package and a
-- time/date-only os library (no string library): plain comparisons and `..` only.
local hs = { status = "Progressing", message = "Waiting for the POT operator" }

local function condition(status, kind)
  if status == nil or status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local status = obj.status
if status == nil then
  return hs
end
local generation = obj.metadata and obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local ready = condition(status, "Ready")
-- Paused itself, or not sending because its pool is paused.
if status.state == "Paused" or (obj.spec ~= nil and obj.spec.paused == true)
    or (ready ~= nil and ready.status == "False" and ready.reason == "PoolPaused") then
  hs.status = "Suspended"
  hs.message = status.pauseReason or (ready and ready.message) or "Paused"
  return hs
end
if status.state == "Failed" then
  local creds = condition(status, "CredentialsReady")
  hs.status = "Degraded"
  hs.message = (creds and creds.message) or (ready and ready.message) or "Mailbox failed"
  return hs
end
if ready == nil or ready.status == "Unknown" then
  return hs
end
if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = "Sending (" .. tostring(status.state or "Active") .. ")"
  return hs
end
-- Not ready but on its way back by itself: cooling down, warmup not started yet, credentials
-- still being checked. Degraded would mark every app red while a fleet routinely cools a few.
if ready.reason == "CoolingDown" or ready.reason == "WarmupNotStarted" or ready.reason == "Checking" then
  hs.message = ready.message or ready.reason
  return hs
end
hs.status = "Degraded"
hs.message = ready.message or ready.reason
return hs
