#!/usr/bin/env bash
# Writes argocd-cm-health.yaml from health/*.lua, so the scripts Argo CD runs are exactly the ones
# tests/charts/test_argocd.py runs through the gopher-lua harness (a test fails on drift).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
{
  cat <<'HEAD'
# Argo CD health checks for POT's kinds, generated from health/*.lua by build-argocd-cm.sh.
# Merge into Argo CD's own ConfigMap:
#   kubectl -n argocd patch configmap argocd-cm --type merge --patch-file examples/argocd/argocd-cm-health.yaml
# Campaign: Progressing while it sends, Healthy when Completed, Suspended when Paused, Degraded when
# Failed or its preflight fails. MailboxPool: Suspended while paused (by hand or auto-paused),
# Healthy when Ready. Mailbox: Suspended while it or its pool is paused, Degraded when its
# credentials fail, Progressing while cooling down or before warmup starts.
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: argocd
data:
HEAD
  for kind in Campaign MailboxPool Mailbox; do
    lower="$(tr '[:upper:]' '[:lower:]' <<<"$kind")"
    printf '  resource.customizations.health.pot.dev_%s: |\n' "$kind"
    sed 's/^/    /; s/^    $//' "$HERE/health/$lower.lua"
  done
} >"$HERE/argocd-cm-health.yaml"
