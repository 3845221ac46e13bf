"""Packs a root filesystem into a reproducible OCI image archive; run by image/build.sh.

One gzipped layer whose entries are sorted, owned by root (numeric ids, no names) and stamped with
SOURCE_DATE_EPOCH; gzip carries no name or time; the JSON documents are canonical (sorted keys, no
spaces). So the same root gives the same layer, config and manifest digests, whenever it is built.
The archive is an OCI image layout in a tar (`oci-archive:` for skopeo and podman). Prints the
manifest digest (what `repository@digest` names once pushed) and the sizes. Standard library only.

    SOURCE_DATE_EPOCH=... python3 image/oci.py ROOT ARCHIVE
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import sys
import tarfile
import tomllib
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The image config: what the Containerfile's runtime stage declares, the same for both recipes.
USER = "65532:65532"
ENV = [
    "PATH=/opt/pot/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    # The root filesystem is read-only in the cluster: no bytecode writes, logs straight to stdout.
    "PYTHONDONTWRITEBYTECODE=1",
    "PYTHONUNBUFFERED=1",
]
# No Entrypoint: a container's args replace Cmd, which is how one image runs either program.
CMD = ["pot-operator"]
WORKDIR = "/tmp"  # noqa: S108 - the image's working folder, as the Containerfile sets it
EXPOSED_PORTS: dict[str, dict[str, str]] = {"9090/tcp": {}}
DESCRIPTION = "POT operator, worker, ingester, unsubscribe endpoint, console and potctl"

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def canonical(document: object) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _entry(root: Path, path: Path, epoch: int, links: dict[tuple[int, int], str]) -> tarfile.TarInfo:
    info = path.lstat()
    name = path.relative_to(root).as_posix()
    entry = tarfile.TarInfo(name)
    entry.mode = stat.S_IMODE(info.st_mode)
    entry.mtime = epoch
    entry.uid = entry.gid = 0
    entry.uname = entry.gname = ""
    if stat.S_ISDIR(info.st_mode):
        entry.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(info.st_mode):
        entry.type = tarfile.SYMTYPE
        entry.linkname = os.readlink(path)
    elif stat.S_ISREG(info.st_mode):
        inode = (info.st_dev, info.st_ino)
        if info.st_nlink > 1 and inode in links:
            entry.type = tarfile.LNKTYPE
            entry.linkname = links[inode]
        else:
            links[inode] = name
            entry.size = info.st_size
    else:
        raise SystemExit(f"oci: {name}: only files, folders and links belong in the image")
    return entry


def layer(root: Path, epoch: int) -> tuple[bytes, bytes]:
    """(the layer tar, the same gzipped): every path under root, sorted, root-owned, one mtime."""
    paths = sorted(root.rglob("*"), key=lambda p: p.relative_to(root).as_posix())
    raw = io.BytesIO()
    links: dict[tuple[int, int], str] = {}
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in paths:
            entry = _entry(root, path, epoch, links)
            if entry.isreg():
                with path.open("rb") as content:
                    tar.addfile(entry, content)
            else:
                tar.addfile(entry)
    tarred = raw.getvalue()
    packed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=0, compresslevel=6) as gz:
        gz.write(tarred)
    return tarred, packed.getvalue()


def _version() -> str:
    return str(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"])


def image(root: Path, epoch: int) -> tuple[dict[str, bytes], str, int]:
    """The layout's blobs by digest, the manifest digest, and the unpacked size."""
    tarred, packed = layer(root, epoch)
    created = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    labels = {
        "org.opencontainers.image.title": "pot",
        "org.opencontainers.image.description": DESCRIPTION,
        "org.opencontainers.image.licenses": "Apache-2.0",
        "org.opencontainers.image.version": _version(),
        "org.opencontainers.image.created": created,
    }
    config = canonical(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": created,
            "config": {
                "User": USER,
                "Env": ENV,
                "Cmd": CMD,
                "WorkingDir": WORKDIR,
                "ExposedPorts": EXPOSED_PORTS,
                "Labels": labels,
            },
            "rootfs": {"type": "layers", "diff_ids": [digest(tarred)]},
            "history": [{"created": created, "created_by": "image/build.sh"}],
        }
    )
    manifest = canonical(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": {"mediaType": CONFIG, "digest": digest(config), "size": len(config)},
            "layers": [{"mediaType": LAYER, "digest": digest(packed), "size": len(packed)}],
            "annotations": {"org.opencontainers.image.created": created},
        }
    )
    blobs = {digest(blob): blob for blob in (packed, config, manifest)}
    return blobs, digest(manifest), len(tarred)


def write_archive(archive: Path, blobs: dict[str, bytes], manifest_digest: str, epoch: int) -> None:
    index = canonical(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {
                    "mediaType": MANIFEST,
                    "digest": manifest_digest,
                    "size": len(blobs[manifest_digest]),
                    "annotations": {"org.opencontainers.image.ref.name": _version()},
                }
            ],
        }
    )
    files = {
        "oci-layout": canonical({"imageLayoutVersion": "1.0.0"}),
        "index.json": index,
        **{f"blobs/sha256/{name.removeprefix('sha256:')}": blob for name, blob in blobs.items()},
    }
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_suffix(".partial")
    with tarfile.open(partial, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for folder in ("blobs", "blobs/sha256"):
            entry = tarfile.TarInfo(folder)
            entry.type, entry.mode, entry.mtime = tarfile.DIRTYPE, 0o755, epoch
            tar.addfile(entry)
        for name in sorted(files):
            entry = tarfile.TarInfo(name)
            entry.size, entry.mode, entry.mtime = len(files[name]), 0o644, epoch
            tar.addfile(entry, io.BytesIO(files[name]))
    # Written aside and renamed, so an interrupted build never leaves a half archive.
    partial.replace(archive)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    root, archive = Path(argv[0]), Path(argv[1])
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    blobs, manifest_digest, unpacked = image(root, epoch)
    write_archive(archive, blobs, manifest_digest, epoch)
    print(f"digest={manifest_digest}")
    print(f"archive={archive}")
    print(f"size_mb={unpacked / 1e6:.1f} compressed_mb={archive.stat().st_size / 1e6:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
