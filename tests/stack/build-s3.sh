#!/usr/bin/env bash
# Builds SeaweedFS's `weed` (the local stack's S3-compatible object store, Apache-2.0) from the Go
# module proxy into a cache outside the repository; a warm cache returns at once.
# Called by pot_stack.s3_server (so by `make up` and the tests' `s3` fixture); prints the binary's path.
#
# SeaweedFS tags its releases as "4.x", which the module proxy cannot list, so the module is pinned
# by its pseudo-version. Its go.mod carries a `replace`, which `go install pkg@version` refuses: a
# small tools module requires SeaweedFS and repeats that replace, as build-controlplane.sh does for
# Kubernetes.
set -euo pipefail

SEAWEEDFS_VERSION="${POT_SEAWEEDFS_VERSION:-v0.0.0-20261109003541-7506e5f91cd6}"
CACHE="${POT_CACHE_DIR:-$HOME/.cache/pot}"
OUT="$CACHE/s3/seaweedfs-$SEAWEEDFS_VERSION-s3tests"

if [[ -x "$OUT/weed" ]]; then
  echo "$OUT/weed"
  exit 0
fi

log() { echo "[s3] $*" >&2; }
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
start=$(date +%s)
work="$CACHE/s3/build-$SEAWEEDFS_VERSION"
rm -rf "$work" && mkdir -p "$work" "$OUT"
log "building SeaweedFS weed $SEAWEEDFS_VERSION into $OUT (cold: several minutes on 2 cores)"

gomod=$(go list -m -f '{{.GoMod}}' "github.com/seaweedfs/seaweedfs@$SEAWEEDFS_VERSION")
godirective=$(awk '/^go /{print $2; exit}' "$gomod")
{
  echo "module pot.dev/s3-tools"
  echo
  echo "go $godirective"
  echo
  echo "require github.com/seaweedfs/seaweedfs $SEAWEEDFS_VERSION"
  echo
  # SeaweedFS's own replace lines (not the commented-out local ones), so the build sees its go.mod.
  grep -E '^replace ' "$gomod" || true
} > "$work/go.mod"
cat > "$work/tools.go" <<'GO'
//go:build tools

package tools

import _ "github.com/seaweedfs/seaweedfs/weed"
GO
# No `go mod tidy`: it would fetch the test dependencies of every dependency (gigabytes); `go build`
# with -mod=mod fetches only the modules whose packages weed imports.
# The s3tests build tag (SeaweedFS's own conformance-test build) counts a lifecycle "day" as 10 seconds,
# so the stack's lifecycle rules expire objects within a test; nothing else changes with it.
(cd "$work" && go build -tags s3tests -trimpath -ldflags "-s -w" -o "$OUT/.weed.tmp" \
  github.com/seaweedfs/seaweedfs/weed)
mv "$OUT/.weed.tmp" "$OUT/weed"
rm -rf "$work"
log "built in $(( $(date +%s) - start ))s into $OUT"
echo "$OUT/weed"
