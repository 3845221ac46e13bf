#!/bin/sh
# Installs POT into /opt/pot inside the Debian build root; run there by image/build.sh (through
# mmdebstrap, which mounts /proc and /dev). The same steps as the Containerfile's build stage:
# build tools from requirements/build.lock, every runtime dependency from requirements/pot.lock with
# its hashes, then POT's own wheel from the package folders. Offline: /wheels holds every wheel.
set -eu
export PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_ROOT_USER_ACTION=ignore
cd /src
python3 -m venv --without-pip /opt/build
python3 -m venv --without-pip /opt/pot
# pip runs from its own wheel to install itself (and setuptools) into the build venv.
for wheel in /wheels/pip-*.whl; do bootstrap=$wheel/pip; done
/opt/build/bin/python "$bootstrap" install -q --no-index --find-links /wheels \
  --require-hashes --no-deps -r requirements/build.lock
/opt/build/bin/pip --python /opt/pot/bin/python install -q --no-index --find-links /wheels \
  --require-hashes --no-deps -r requirements/pot.lock
/opt/build/bin/pip wheel -q --no-deps --no-build-isolation -w /dist .
/opt/build/bin/pip --python /opt/pot/bin/python install -q --no-deps /dist/pot-*.whl
# --- Size: what the programs never read at run time leaves the venv (issue 17: at most 200 MB). ---
# Every cut names what it saves, measured on the unpacked image; licence files (*.dist-info/licenses,
# LICENSE*, COPYING*) are never touched: no cut below matches them.
site=/opt/pot/lib/python3.11/site-packages
# The kubernetes client's asyncio copy (kubernetes.aio, about 68 MB with its bytecode) is imported by
# nothing in the image (POT and kopf use the synchronous client).
rm -rf "$site/kubernetes/aio"
# pycryptodome (minio's) ships its own test suite, test private keys included: no key in the image.
# pycryptodome itself stays: minio imports it (Crypto.Cipher) when `import minio` runs, for SSE-C.
rm -rf "$site/Crypto/SelfTest"
# Test suites that come inside runtime wheels (websocket-client's, certifi's; 0.5 MB): imported only
# by their own test runners.
rm -rf "$site/websocket/tests" "$site/certifi/tests"
# Type stubs (*.pyi, 0.2 MB): read by type checkers, never by the interpreter.
find /opt/pot -name '*.pyi' -delete
# Compiled extensions: dlopen needs only their dynamic symbols, which --strip-unneeded keeps; the
# debug sections and the static symbol table go (cryptography's Rust library alone 14.2 -> 11.6 MB).
find /opt/pot -name '*.so' -exec strip --strip-unneeded {} +
# Bytecode checked by hash, never by mtime: the image's files all carry one fixed mtime, the root
# filesystem is read-only, and the same sources give the same .pyc bytes.
find /usr/lib/python3* /opt/pot -name __pycache__ -prune -exec rm -rf {} +
python3 -m compileall -q -j 1 --invalidation-mode unchecked-hash /usr/lib/python3.11 /opt/pot/lib
# Sourceless bytecode for the two big third-party trees whose source nobody reads in a running pod:
# kubernetes (its client imports every one of its ~900 generated models at import, so none of them
# can go; their sources are 33 MB next to 24 MB of bytecode) and pygments (rich's highlighter, which
# loads lexers by module name; 4.6 MB of sources). Each module's .pyc moves next to where its .py
# was (compileall -b), which Python imports when no source is there. A traceback through them shows
# no source lines; POT's own packages and every other library keep their sources.
for tree in kubernetes pygments; do
  find "$site/$tree" -name __pycache__ -prune -exec rm -rf {} +
  python3 -m compileall -q -j 1 -b --invalidation-mode unchecked-hash "$site/$tree"
  find "$site/$tree" -name '*.py' -delete
done
