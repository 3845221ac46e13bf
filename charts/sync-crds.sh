#!/usr/bin/env bash
# Copies the generated CRDs (crds/*.yaml, made by `make crds` from pot_common.api) into the chart,
# which Helm installs from charts/pot/crds/. tests/charts/test_chart.py fails when the two drift;
# run this after `make crds`. kopf-peerings.yaml is the chart's own (kopf's kinds) and stays.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SRC="$ROOT/crds"
DST="$ROOT/charts/pot/crds"
OWN="kopf-peerings.yaml"

shopt -s nullglob
sources=("$SRC"/*.yaml)
if ((${#sources[@]} == 0)); then
  echo "sync-crds: no CRDs in $SRC; run \`make crds\` first" >&2
  exit 1
fi
for f in "$DST"/*.yaml; do
  name="$(basename "$f")"
  if [[ "$name" != "$OWN" && ! -e "$SRC/$name" ]]; then
    rm -- "$f"
    echo "sync-crds: removed $name (no longer in crds/)" >&2
  fi
done
for f in "${sources[@]}"; do
  if [[ "$(basename "$f")" == "$OWN" ]]; then
    echo "sync-crds: crds/$OWN would shadow the chart's kopf peering CRDs" >&2
    exit 1
  fi
  cp -- "$f" "$DST/"
done
echo "sync-crds: ${#sources[@]} CRD file(s) copied into charts/pot/crds" >&2
