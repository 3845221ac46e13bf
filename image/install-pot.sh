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
# Size: the kubernetes client's asyncio copy (kubernetes.aio, about 68 MB with its bytecode) is
# imported by nothing in the image (POT and kopf use the synchronous client), and the compiled
# extensions ship their debug symbols.
rm -rf /opt/pot/lib/python3.11/site-packages/kubernetes/aio
# pycryptodome (minio's) ships its own test suite, test private keys included: no key in the image.
rm -rf /opt/pot/lib/python3.11/site-packages/Crypto/SelfTest
find /opt/pot -name '*.so' -exec strip --strip-debug {} +
# Bytecode checked by hash, never by mtime: the image's files all carry one fixed mtime, the root
# filesystem is read-only, and the same sources give the same .pyc bytes.
find /usr/lib/python3* /opt/pot -name __pycache__ -prune -exec rm -rf {} +
python3 -m compileall -q -j 1 --invalidation-mode unchecked-hash /usr/lib/python3.11 /opt/pot/lib
