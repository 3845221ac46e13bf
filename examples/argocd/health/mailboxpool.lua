-- Argo CD health for pot.dev/MailboxPool. Argo CD runs this with only the base, table, package and
-- a time/date-only os library (no string library): plain comparisons and `..` only.
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

-- Paused by a person (spec.paused) or by the auto-pause policy (status.paused / Paused condition).
local paused = condition(status, "Paused")
if status.paused == true or (paused ~= nil and paused.status == "True")
    or (obj.spec ~= nil and obj.spec.paused == true) then
  hs.status = "Suspended"
  hs.message = status.pauseReason or (paused and paused.message) or "Paused"
  return hs
end

local ready = condition(status, "Ready")
if ready == nil or ready.status == "Unknown" then
  return hs
end
if ready.status == "True" then
  hs.status = "Healthy"
  local counts = status.mailboxes
  if counts ~= nil and counts.total ~= nil then
    hs.message = tostring(counts.total) .. " mailboxes, " .. tostring(status.workerReplicas or 0) .. " workers"
  else
    hs.message = ready.message or "Ready"
  end
  return hs
end
hs.status = "Degraded"
hs.message = ready.message or ready.reason
return hs
