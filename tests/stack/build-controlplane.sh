#!/usr/bin/env bash
# Builds the local Kubernetes control plane (kube-apiserver, kube-controller-manager, etcd)
# from the Go module proxy into a cache outside the repository, envtest-style.
# Called by `make controlplane` (and so by `make test` / `make up`); a warm cache returns at once.
set -euo pipefail

K8S_VERSION="${POT_K8S_VERSION:-v1.35.4}"
ETCD_VERSION="${POT_ETCD_VERSION:-v3.6.5}"   # the etcd release k8s.io/kubernetes ${K8S_VERSION} itself requires
CACHE="${POT_CACHE_DIR:-$HOME/.cache/pot}"
OUT="$CACHE/controlplane/k8s-$K8S_VERSION-etcd-$ETCD_VERSION"

BINARIES=(kube-apiserver kube-controller-manager kubectl etcd)
missing=()
for b in "${BINARIES[@]}"; do [[ -x "$OUT/$b" ]] || missing+=("$b"); done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "$OUT"
  exit 0
fi

log() { echo "[controlplane] $*" >&2; }
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
start=$(date +%s)
work="$CACHE/controlplane/build-$K8S_VERSION"
rm -rf "$work" && mkdir -p "$work/k8s" "$work/etcd" "$OUT"
log "building ${missing[*]} into $OUT (cold: about 10-20 minutes on 2 cores)"
needs() { [[ ! -x "$OUT/$1" ]]; }

# --- Kubernetes: a tools module that requires k8s.io/kubernetes and pins every staging module. ---
gomod=$(go list -m -f '{{.GoMod}}' "k8s.io/kubernetes@$K8S_VERSION")
godirective=$(awk '/^go /{print $2; exit}' "$gomod")
godebug=$(awk '/^godebug /{print $2; exit}' "$gomod")
staging_minor="v0.${K8S_VERSION#v1.}"
{
  echo "module pot.dev/controlplane-tools"
  echo
  echo "go $godirective"
  echo
  [[ -n "$godebug" ]] && echo "godebug $godebug" && echo
  echo "require k8s.io/kubernetes $K8S_VERSION"
  echo
  # one `replace k8s.io/X => k8s.io/X v0.N.M` per staging module, generated from the release's go.mod
  grep -E '^\s*k8s\.io/[^ ]+ => \./staging/' "$gomod" | awk -v v="$staging_minor" '{print "replace " $1 " => " $1 " " v}'
} > "$work/k8s/go.mod"
cat > "$work/k8s/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
log "resolving k8s.io/kubernetes $K8S_VERSION ($(grep -c '^replace' "$work/k8s/go.mod") staging replaces)"
(cd "$work/k8s" && go mod tidy -e >/dev/null 2>&1 || true; go mod download)
major=${K8S_VERSION#v}; major=${major%%.*}; minor=${K8S_VERSION#v*.}; minor=${minor%%.*}
ld=""
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=$major -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
done
for cmd in kube-apiserver kube-controller-manager kubectl; do
  needs "$cmd" || continue
  log "building $cmd"
  # build to a temporary name and rename, so an interrupted build never leaves a half-written binary
  (cd "$work/k8s" && go build -trimpath -ldflags "-s -w $ld" -o "$OUT/.$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd")
  mv "$OUT/.$cmd.tmp" "$OUT/$cmd"
done

# --- etcd: its own module so version selection cannot move Kubernetes' dependencies. ---
cat > "$work/etcd/go.mod" <<GOMOD
module pot.dev/etcd-tools

go $godirective

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
GOMOD
cat > "$work/etcd/tools.go" <<'GO'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GO
if needs etcd; then
  log "building etcd $ETCD_VERSION"
  (cd "$work/etcd" && go mod tidy -e >/dev/null 2>&1 || true; go build -trimpath -ldflags "-s -w" -o "$OUT/.etcd.tmp" go.etcd.io/etcd/server/v3)
  mv "$OUT/.etcd.tmp" "$OUT/etcd"
fi

rm -rf "$work"
log "built in $(( $(date +%s) - start ))s into $OUT"
echo "$OUT"
