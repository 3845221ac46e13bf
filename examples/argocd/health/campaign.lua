-- Argo CD health for pot.dev/Campaign. Argo CD runs this with only the base, table, package and a
-- time/date-only os library (no string library): plain comparisons and `..` only.
-- Like a Job: Progressing while it sends, Healthy once Completed.
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
local phase = status.phase
if phase == "Completed" then
  hs.status = "Healthy"
  local counts = status.counts
  if counts ~= nil then
    hs.message = "Completed: " .. tostring(counts.sent or 0) .. " sent, " .. tostring(counts.bounced or 0)
      .. " bounced, " .. tostring(counts.failed or 0) .. " failed"
  else
    hs.message = "Completed"
  end
  return hs
end
if phase == "Failed" then
  hs.status = "Degraded"
  hs.message = (ready and ready.message) or "Campaign failed"
  return hs
end
if phase == "Paused" or (obj.spec ~= nil and obj.spec.paused == true) then
  hs.status = "Suspended"
  hs.message = (ready and ready.message) or "Paused"
  return hs
end
-- A failed preflight blocks the start until DNS is fixed: a person has to act.
if status.preflight ~= nil and status.preflight.passed == false then
  hs.status = "Degraded"
  local failing = {}
  for _, check in ipairs(status.preflight.checks or {}) do
    if check.result == "Fail" then
      table.insert(failing, check.name)
    end
  end
  hs.message = "Preflight failed: " .. table.concat(failing, ", ")
  return hs
end
local counts = status.counts
if phase == "Running" and counts ~= nil then
  hs.message = "Running: " .. tostring(counts.sent or 0) .. " of " .. tostring(counts.total or 0) .. " sent"
else
  hs.message = tostring(phase or "Pending") .. ((ready and ready.message and (": " .. ready.message)) or "")
end
return hs
