#!/usr/bin/env bash
# Builds POT's OCI image with no container engine; called by `make image` (and `make test-image`,
# with --if-stale, which reuses an image built from the same inputs). Prints the digest and size.
#
#   1. mmdebstrap makes a Debian bookworm build root with Debian's python3 (no registry pull);
#   2. image/install-pot.sh installs POT there from the lock files, as the Containerfile does;
#   3. image/rootfs.py keeps only what the programs run on (no shell, no apt, no dpkg);
#   4. image/oci.py packs that into an OCI archive: one layer, sorted entries, every mtime set to
#      SOURCE_DATE_EPOCH, gzip without a timestamp. Same inputs, same digest.
#
# Output in ~/.cache/pot/image/ (POT_CACHE_DIR moves it): pot.oci.tar, pot.digest, pot.packages
# (the Debian packages inside, with versions). Push it with skopeo (see the README).
set -euo pipefail
umask 022
cd "$(dirname "$0")/.."

IF_STALE=0
case "${1:-}" in
  --if-stale) IF_STALE=1 ;;
  --print-inputs) ;;
  "") ;;
  *) echo "usage: $0 [--if-stale | --print-inputs]" >&2 && exit 2 ;;
esac
SUITE=bookworm
PYTHON="${PYTHON:-python3}"
# The Debian archive this machine's apt already uses for $SUITE and $SUITE-security (deb822 .sources or
# one-line sources.list), unless POT_DEBIAN_MIRROR / POT_DEBIAN_SECURITY_MIRROR say otherwise.
host_archive() {
  "$PYTHON" - "$1" <<'PY'
import glob, sys
want = sys.argv[1]
for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    for stanza in open(path).read().split("\n\n"):
        fields = dict(line.split(":", 1) for line in stanza.splitlines() if ":" in line and not line.startswith("#"))
        if want in fields.get("Suites", "").split() and "deb" in fields.get("Types", "").split():
            print(fields["URIs"].split()[0]); sys.exit(0)
for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        continue
    for line in lines:
        words = [w for w in line.split() if not w.startswith("[")]
        if len(words) >= 3 and words[0] == "deb" and words[2] == want:
            print(words[1]); sys.exit(0)
sys.exit(f"no apt source for {want} on this machine: set POT_DEBIAN_MIRROR and POT_DEBIAN_SECURITY_MIRROR")
PY
}
MIRROR="${POT_DEBIAN_MIRROR:-$(host_archive "$SUITE")}"
SECURITY="${POT_DEBIAN_SECURITY_MIRROR:-$(host_archive "$SUITE-security")}"
CACHE="${POT_CACHE_DIR:-$HOME/.cache/pot}/image"
ARCHIVE="$CACHE/pot.oci.tar"
log() { echo "[image] $*" >&2; }

# --- Inputs: exactly what the Containerfile copies (tests/charts/test_containerfile.py checks both). ---
mapfile -t FOLDERS < <("$PYTHON" -c '
import tomllib
print(*tomllib.load(open("pyproject.toml", "rb"))["tool"]["setuptools"]["packages"]["find"]["where"], sep="\n")')
INPUTS=(pyproject.toml requirements/build.lock requirements/pot.lock "${FOLDERS[@]}")
if [[ "${1:-}" == "--print-inputs" ]]; then
  printf '%s\n' "${INPUTS[@]}"
  exit 0
fi
# Time of the last commit that changed an input or this recipe: the image's one timestamp.
if [[ -z "${SOURCE_DATE_EPOCH:-}" ]]; then
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct -- "${INPUTS[@]}" image/ 2>/dev/null || true)
  SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-0}
fi
export SOURCE_DATE_EPOCH
key=$( {
  echo "$SUITE $MIRROR $SECURITY $SOURCE_DATE_EPOCH"
  find "${INPUTS[@]}" image/ -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 | sort -z | xargs -0 sha256sum
} | sha256sum | cut -d' ' -f1)
if ((IF_STALE)) && [[ -f "$ARCHIVE" && "$(cat "$CACHE/pot.key" 2>/dev/null)" == "$key" ]]; then
  log "reusing $ARCHIVE (same inputs)"
  cat "$CACHE/pot.digest"
  exit 0
fi

# --- Tools, from Debian's packages: the builder, and what the smoke test and a push use. ---
missing=()
for tool in mmdebstrap umoci runc skopeo; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

start=$(date +%s)
mkdir -p "$CACHE"
# One build at a time: they share the work folder and the caches.
exec 9>"$CACHE/.lock"
flock 9
work="$CACHE/work"
# --one-file-system: never into a mount a failed mmdebstrap may have left in the build root.
rm -rf --one-file-system "$work"
mkdir -p "$work/context/requirements" "$work/build-root" "$CACHE/debs" "$CACHE/wheels"
# POT_IMAGE_KEEP_WORK=1 keeps the build root and the image's root for a look after the build.
trap '[[ -n "${POT_IMAGE_KEEP_WORK:-}" ]] || rm -rf --one-file-system "$work"' EXIT
for input in "${INPUTS[@]}"; do cp -a "$input" "$work/context/$input"; done
find "$work/context" \( -name __pycache__ -o -name '*.egg-info' \) -prune -exec rm -rf {} +
cp image/install-pot.sh "$work/context/"

# --- Wheels: every locked one, hash-checked, kept between builds. ---
if ! "$PYTHON" -m pip download -q --disable-pip-version-check --no-index --find-links "$CACHE/wheels" \
  --no-deps --require-hashes --only-binary=:all: -d "$CACHE/wheels" \
  -r requirements/build.lock -r requirements/pot.lock >/dev/null 2>&1; then
  log "downloading the locked wheels"
  "$PYTHON" -m pip download -q --disable-pip-version-check --no-deps --require-hashes --only-binary=:all: \
    -d "$CACHE/wheels" -r requirements/build.lock -r requirements/pot.lock
fi

# --- The build root: Debian's python3 and POT installed into /opt/pot. ---
# The packages image/rootfs.py keeps (its ROOTS, with their dependencies) plus binutils for strip.
log "building the Debian $SUITE root and installing POT (SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH)"
mmdebstrap --quiet --mode=root --variant=minbase --include=python3,ca-certificates,netbase,binutils \
  --skip=essential/unlink \
  --setup-hook="mkdir -p \"\$1/var/cache/apt/archives\"" \
  --setup-hook="sync-in $CACHE/debs /var/cache/apt/archives" \
  --customize-hook="sync-out /var/cache/apt/archives $CACHE/debs" \
  --customize-hook='mkdir "$1/src" "$1/wheels"' \
  --customize-hook="sync-in $work/context /src" \
  --customize-hook="sync-in $CACHE/wheels /wheels" \
  --customize-hook="chroot \"\$1\" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH sh /src/install-pot.sh" \
  "$SUITE" "$work/build-root" \
  "deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main" "deb $SECURITY $SUITE-security main"
# Keep only the packages this build used.
awk '/^Package:/{p=$2} /^Version:/{v=$2; sub(/:/, "%3a", v)} /^Architecture:/{a=$2} /^$/{print p "_" v "_" a ".deb"}' \
  "$work/build-root/var/lib/dpkg/status" | sort >"$work/debs.used"
comm -23 <(ls "$CACHE/debs" | grep '\.deb$' | sort) "$work/debs.used" | sed "s|^|$CACHE/debs/|" | xargs -r rm -f

# --- The image's root and the archive. ---
"$PYTHON" image/rootfs.py "$work/build-root" "$work/root"
"$PYTHON" image/oci.py "$work/root" "$ARCHIVE" >"$CACHE/pot.digest"
grep -h '^Package:\|^Version:' "$work"/root/var/lib/dpkg/status.d/* | paste - - | awk '{print $2, $4}' >"$CACHE/pot.packages"
echo "$key" >"$CACHE/pot.key"
log "built in $(($(date +%s) - start))s: $ARCHIVE"
cat "$CACHE/pot.digest"
