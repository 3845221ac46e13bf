#!/usr/bin/env bash
# Debian's chromium for the console's browser tests (Playwright drives it through executable_path;
# `playwright install` downloads a browser build of its own, which this project does not use).
# Called by `make tools`; does nothing when /usr/bin/chromium is already there.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
if [[ -x "$CHROMIUM" ]]; then
  exit 0
fi
if [[ "$(id -u)" -ne 0 ]]; then
  SUDO=sudo
else
  SUDO=
fi
echo "Installing Debian's chromium for the console's browser tests …" >&2
export DEBIAN_FRONTEND=noninteractive
# A fresh machine may have no package lists yet (or stale ones that name versions long gone).
if ! $SUDO apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1; then
  $SUDO apt-get update -q >/dev/null
  $SUDO apt-get install -y -q --no-install-recommends chromium >/dev/null
fi
test -x "$CHROMIUM" || { echo "error: $CHROMIUM still missing after apt-get install chromium" >&2; exit 1; }
