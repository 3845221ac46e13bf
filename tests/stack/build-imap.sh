#!/usr/bin/env bash
# Unpacks Dovecot (the local stack's IMAP server, with LMTP for delivery) from Debian's packages into a
# cache outside the repository, nothing installed system-wide; a warm cache returns at once.
# Called by pot_stack.imap_server (so by `make up` and the tests' `imap_server` fixture) and by
# `make tools`; prints the folder that holds usr/ (progress goes to stderr).
#
# Debian builds Dovecot for /usr: its executables, doveconf and libraries are found through settings
# the stack's config gives (each service's `executable`, `doveconf -e`, LD_LIBRARY_PATH), except the
# plugin folder, which libdovecot and a few binaries carry as the literal "/usr/lib/dovecot/modules".
# That string is rewritten in place to the relative "./dovecot-modules" (same length, NUL-padded);
# Dovecot runs from its base_dir, where pot_stack.imap_server links dovecot-modules to the real one.
set -euo pipefail

CACHE="${POT_CACHE_DIR:-$HOME/.cache/pot}"
PACKAGES=(dovecot-core dovecot-imapd dovecot-lmtpd libwrap0 liblua5.4-0 libexttextcat-2.0-0)

log() { echo "[imap] $*" >&2; }

# A warm cache answers at once (a later Debian security update is picked up after `rm -rf` of it).
found=$(ls -d "$CACHE"/imap/dovecot-*/.complete 2>/dev/null | sort | tail -1 || true)
if [[ -n "$found" ]]; then
  echo "$(dirname "$found")"
  exit 0
fi

version=$(apt-cache policy dovecot-core 2>/dev/null | awk '/Candidate:/{print $2}')
if [[ -z "$version" || "$version" == "(none)" ]]; then
  log "apt-cache knows no dovecot-core: this needs a Debian/Ubuntu package index (apt-get update)"
  exit 1
fi
OUT="$CACHE/imap/dovecot-${version//[:~+]/_}"

start=$(date +%s)
work="$OUT.download"
rm -rf "$work" "$OUT" && mkdir -p "$work" "$OUT"
log "downloading Dovecot $version and the libraries it needs (${PACKAGES[*]}) into $OUT"
(cd "$work" && apt-get download "${PACKAGES[@]}" >&2)
for deb in "$work"/*.deb; do
  dpkg -x "$deb" "$OUT"
done
rm -rf "$work" "$OUT/usr/share/doc" "$OUT/usr/share/man" "$OUT/etc" "$OUT/lib/systemd" "$OUT/usr/lib/systemd"

python3 - "$OUT" <<'PY'
import pathlib, re, sys
root = pathlib.Path(sys.argv[1])
old = b"/usr/lib/dovecot/modules"
pattern = re.compile(re.escape(old) + rb"([^\0]*)\0")
for path in root.rglob("*"):
    if path.is_file() and not path.is_symlink():
        data = path.read_bytes()
        if old in data:
            new = pattern.sub(lambda m: b"./dovecot-modules" + m.group(1) + b"\0" * 8, data)
            assert len(new) == len(data), path
            path.write_bytes(new)
PY

touch "$OUT/.complete"
log "unpacked in $(( $(date +%s) - start ))s into $OUT"
echo "$OUT"
