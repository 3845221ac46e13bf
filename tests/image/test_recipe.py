"""The image recipe's own parts, without building an image: image/oci.py packs reproducibly and
image/rootfs.py picks python3's Debian dependencies without the packaging machinery."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
import json
import os
import sys
import tarfile
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"pot_image_{name}", REPO / "image" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


oci = _load("oci")
rootfs = _load("rootfs")
EPOCH = 1_700_000_000


def _tree(root: Path, mtime: int) -> None:
    (root / "usr/bin").mkdir(parents=True)
    (root / "tmp").mkdir()
    (root / "tmp").chmod(0o1777)
    (root / "usr/bin/tool").write_text("#!/opt/pot/bin/python\n")
    (root / "usr/bin/tool").chmod(0o755)
    (root / "usr/bin/same").hardlink_to(root / "usr/bin/tool")
    (root / "bin").symlink_to("usr/bin")
    for path in [root, *root.rglob("*")]:
        os.utime(path, (mtime, mtime), follow_symlinks=False)


def test_same_root_same_digest_whenever_and_wherever_it_was_made(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    _tree(first, 1_000_000_000)
    _tree(second, 1_600_000_000)
    blobs_a, digest_a, _ = oci.image(first, EPOCH)
    blobs_b, digest_b, _ = oci.image(second, EPOCH)
    assert digest_a == digest_b and blobs_a == blobs_b
    # Another timestamp is another image (the config's `created` and every mtime).
    assert oci.image(first, EPOCH + 1)[1] != digest_a


def test_the_layer_is_sorted_root_owned_and_stamped_with_the_epoch(tmp_path: Path) -> None:
    _tree(tmp_path, 1_000_000_000)
    tarred, packed = oci.layer(tmp_path, EPOCH)
    assert packed[4:8] == b"\0\0\0\0"  # gzip's MTIME field
    assert gzip.decompress(packed) == tarred
    with tarfile.open(fileobj=io.BytesIO(tarred)) as tar:
        entries = tar.getmembers()
    names = [entry.name for entry in entries]
    assert names == sorted(names) == ["bin", "tmp", "usr", "usr/bin", "usr/bin/same", "usr/bin/tool"]
    assert {(e.uid, e.gid, e.uname, e.gname, e.mtime) for e in entries} == {(0, 0, "", "", EPOCH)}
    by_name = {entry.name: entry for entry in entries}
    assert by_name["bin"].issym() and by_name["bin"].linkname == "usr/bin"
    assert by_name["usr/bin/same"].isreg() and by_name["usr/bin/tool"].islnk()
    assert by_name["tmp"].mode == 0o1777


def test_the_archive_is_an_oci_layout_that_names_its_blobs_by_digest(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    _tree(root, 1_000_000_000)
    blobs, manifest_digest, _ = oci.image(root, EPOCH)
    archive = tmp_path / "image.tar"
    oci.write_archive(archive, blobs, manifest_digest, EPOCH)
    with tarfile.open(archive) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    for name, blob in files.items():
        if name.startswith("blobs/sha256/"):
            assert hashlib.sha256(blob).hexdigest() == name.rsplit("/", 1)[1]
    (entry,) = json.loads(files["index.json"])["manifests"]
    assert entry["digest"] == manifest_digest
    manifest = json.loads(files[f"blobs/sha256/{manifest_digest.removeprefix('sha256:')}"])
    config = json.loads(files[f"blobs/sha256/{manifest['config']['digest'].removeprefix('sha256:')}"])
    assert config["config"]["User"] == "65532:65532"
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(oci.layer(root, EPOCH)[0]).hexdigest()]


STATUS = """\
Package: python3
Status: install ok installed
Architecture: amd64
Depends: python3.11 (>= 3.11.2-1~), libpython3-stdlib (= 3.11.2-1+b1)
Pre-Depends: python3-minimal (= 3.11.2-1+b1)

Package: python3-minimal
Status: install ok installed
Architecture: amd64
Depends: dpkg (>= 1.13.20)

Package: python3.11
Status: install ok installed
Architecture: amd64
Depends: media-types | mime-support, libc6 (>= 2.34)

Package: libpython3-stdlib
Status: install ok installed
Architecture: amd64
Depends: libpython3.11-stdlib

Package: libpython3.11-stdlib
Status: install ok installed
Architecture: amd64
Depends: libc6:any, debconf (>= 0.5) | debconf-2.0

Package: media-types
Status: install ok installed
Architecture: all

Package: libc6
Status: install ok installed
Architecture: amd64
Provides: libc6-compat

Package: dpkg
Status: install ok installed
Architecture: amd64
Depends: perl-base

Package: debconf
Status: install ok installed
Architecture: all
Provides: debconf-2.0

Package: bash
Status: install ok installed
Architecture: amd64
Essential: yes

Package: removed-one
Status: deinstall ok config-files
Architecture: amd64
"""


def test_closure_follows_dependencies_but_not_the_packaging_machinery(tmp_path: Path) -> None:
    (tmp_path / "var/lib/dpkg").mkdir(parents=True)
    (tmp_path / "var/lib/dpkg/status").write_text(STATUS)
    packages = rootfs.installed(tmp_path)
    assert "removed-one" not in packages
    assert rootfs.closure(packages, ("python3",)) == [
        "libc6",
        "libpython3-stdlib",
        "libpython3.11-stdlib",
        "media-types",
        "python3",
        "python3-minimal",
        "python3.11",
    ]
    with pytest.raises(SystemExit, match="not installed"):
        rootfs.closure(packages, ("python3", "missing"))


@pytest.mark.parametrize(
    ("path", "kept"),
    [
        ("/usr/bin/python3.11", True),
        ("/usr/share/doc/libc6/copyright", True),
        ("/usr/share/doc/libc6/changelog.Debian.gz", False),
        ("/usr/share/man/man1/python3.11.1.gz", False),
        ("/usr/share/locale/de/LC_MESSAGES/libc.mo", False),
        ("/usr/lib/x86_64-linux-gnu/gconv/UTF-16.so", False),
        ("/usr/lib/python3.11/json/__init__.py", True),
    ],
)
def test_documentation_and_locales_stay_out(path: str, kept: bool) -> None:
    assert rootfs.kept(path) is kept
