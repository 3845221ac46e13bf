#!/usr/bin/env bash
# Installs the chart's test tools (helm, promtool, the Argo CD Lua health harness) into
# ~/.cache/pot/tools/bin, outside the repository, so a warm cache returns at once.
# Called by `make tools`; tests/charts/ reads the binaries from the same place.
#
#   helm        built from the Go module proxy (no release tarball: GitHub is not reachable)
#   promtool    unpacked from Debian's `prometheus` package; no service is installed or started
#   pot-luahealth  charts/tools/luahealth, gopher-lua with the libraries Argo CD opens
set -euo pipefail

HELM_VERSION=v3.22.0
# helm's own Makefile stamps the Kubernetes version its client-go speaks (v0.37 → 1.37); without it
# a `go install` build assumes Kubernetes 1.20 for `.Capabilities` and lint deprecation checks.
HELM_K8S_MAJOR=1
HELM_K8S_MINOR=37

TOOLS_DIR=${POT_TOOLS_DIR:-$HOME/.cache/pot/tools}
BIN="$TOOLS_DIR/bin"
HERE="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$BIN"

log() { printf 'install-tools: %s\n' "$*" >&2; }

install_helm() {
  if [[ -x "$BIN/helm" ]] && "$BIN/helm" version --template '{{.Version}}' 2>/dev/null | grep -qx "$HELM_VERSION"; then
    return
  fi
  log "building helm $HELM_VERSION from the Go module proxy (a few minutes on 2 cores)"
  local ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  ldflags+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=$HELM_K8S_MAJOR"
  ldflags+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$HELM_K8S_MINOR"
  ldflags+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=$HELM_K8S_MAJOR"
  ldflags+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$HELM_K8S_MINOR"
  GOBIN="$BIN" GOTOOLCHAIN=local CGO_ENABLED=0 go install -trimpath -ldflags "$ldflags" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  "$BIN/helm" version --template '{{.Version}}' | grep -qx "$HELM_VERSION"
}

install_promtool() {
  if [[ -x "$BIN/promtool" ]] && "$BIN/promtool" --version >/dev/null 2>&1; then
    return
  fi
  log "unpacking promtool from Debian's prometheus package"
  local work
  work="$(mktemp -d)"
  # apt-get download needs a package index; fetch one only when it is missing.
  if ! (cd "$work" && apt-get download prometheus >/dev/null 2>&1); then
    apt-get update >/dev/null
    (cd "$work" && apt-get download prometheus >/dev/null)
  fi
  rm -rf "$TOOLS_DIR/prometheus"
  dpkg -x "$work"/prometheus_*.deb "$TOOLS_DIR/prometheus"
  rm -rf "$work"
  ln -sf "$TOOLS_DIR/prometheus/usr/bin/promtool" "$BIN/promtool"
  "$BIN/promtool" --version >/dev/null
}

install_luahealth() {
  # Rebuilt whenever its source changes: the stamp is the hash of the module's files.
  local src="$HERE/luahealth" stamp sum
  stamp="$BIN/.pot-luahealth.sha256"
  sum="$(cat "$src/go.mod" "$src/go.sum" "$src"/*.go | sha256sum | cut -d' ' -f1)"
  if [[ -x "$BIN/pot-luahealth" && -f "$stamp" && "$(cat "$stamp")" == "$sum" ]]; then
    return
  fi
  log "building the Argo CD Lua health harness"
  (cd "$src" && GOTOOLCHAIN=local CGO_ENABLED=0 go build -trimpath -o "$BIN/pot-luahealth" .)
  printf '%s\n' "$sum" >"$stamp"
}

install_helm
install_promtool
install_luahealth
