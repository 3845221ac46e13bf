"""Lays out the image's root filesystem from a Debian build root; run by image/build.sh.

The build root (made by mmdebstrap) holds Debian's python3, the /opt/pot virtualenv and the tools that
installed them. The image keeps only what the programs run on: the files of python3's Debian packages
and their dependencies (no shell, no apt, no dpkg), the CA bundle, /opt/pot, and the few /etc files a
process expects. Documentation, man pages and locales are left out. Standard library only: it runs on
the build host's Python.

    python3 image/rootfs.py BUILD_ROOT OUT_ROOT
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path

# The packages the programs need, with everything they depend on. Not Debian's tzdata: the venv
# holds the locked tzdata wheel, which zoneinfo reads when no system time zone folder exists, so
# schedules use the one time zone database the lock pins (and the image is about 2 MB smaller).
ROOTS = ("python3", "ca-certificates", "netbase", "base-files")
# Packaging machinery that the roots depend on only for their maintainer scripts, which never run in
# the image: pulling these in would bring a shell, perl and dpkg.
SKIPPED = frozenset({"debconf", "dpkg", "perl-base", "base-passwd", "debianutils", "mawk"})
# Paths of the kept packages that nothing reads at run time.
DROPPED = (
    "/usr/share/doc/",
    "/usr/share/man/",
    "/usr/share/info/",
    "/usr/share/locale/",
    "/usr/share/lintian/",
    "/usr/share/bug/",
    "/usr/share/doc-base/",
    "/usr/share/bash-completion/",
    "/usr/share/menu/",
    "/usr/share/pixmaps/",
    "/usr/share/applications/",
    "/usr/share/python3/debian_defaults",
    # glibc's iconv modules: Python's codecs are its own, and C.UTF-8 needs none of them.
    "/usr/lib/x86_64-linux-gnu/gconv/",
    "/usr/lib/python3.11/ensurepip/",
    "/usr/lib/python3.11/idlelib/",
    "/usr/lib/python3.11/lib2to3/",
    "/usr/lib/python3.11/pydoc_data/",
    "/usr/lib/python3.11/turtledemo/",
)
# Files made by maintainer scripts (not in any package's file list) that the programs read.
GENERATED = ("/etc/ssl/certs",)
# The tree that holds the programs.
VENV = "/opt/pot"
# A numeric non-root user, as the chart's securityContext runs it (runAsUser/runAsGroup 65532).
UID = GID = 65532

ETC = {
    "etc/passwd": (
        "root:x:0:0:root:/root:/usr/sbin/nologin\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
        f"pot:x:{UID}:{GID}:pot:/nonexistent:/usr/sbin/nologin\n"
    ),
    "etc/group": f"root:x:0:\nnogroup:x:65534:\npot:x:{GID}:\n",
    "etc/nsswitch.conf": (
        "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\n"
        "protocols: files\nservices: files\nethers: files\nrpc: files\n"
    ),
    # Kubernetes mounts its own; this one serves a container run without a cluster.
    "etc/hosts": "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
}


@dataclass
class Package:
    name: str
    arch: str
    depends: list[list[str]] = field(default_factory=list)
    provides: list[str] = field(default_factory=list)
    stanza: str = ""


def _names(field_value: str) -> list[list[str]]:
    """'a (>= 1) | b, c:any' -> [['a', 'b'], ['c']]."""
    groups = []
    for group in field_value.split(","):
        names = [re.split(r"[\s(:]", alt.strip(), maxsplit=1)[0] for alt in group.split("|")]
        if names and names[0]:
            groups.append(names)
    return groups


def installed(build_root: Path) -> dict[str, Package]:
    """The build root's installed packages, from dpkg's status file."""
    packages: dict[str, Package] = {}
    status = (build_root / "var/lib/dpkg/status").read_text()
    for stanza in status.strip().split("\n\n"):
        fields: dict[str, str] = {}
        key = ""
        for line in stanza.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key] += "\n" + line
            else:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if "installed" not in fields.get("Status", "").split():
            continue
        depends = _names(fields.get("Pre-Depends", "")) + _names(fields.get("Depends", ""))
        provides = [alt for group in _names(fields.get("Provides", "")) for alt in group]
        packages[fields["Package"]] = Package(
            fields["Package"], fields.get("Architecture", "all"), depends, provides, stanza
        )
    return packages


def closure(packages: dict[str, Package], roots: tuple[str, ...] = ROOTS) -> list[str]:
    """The roots and everything they depend on, taking the first installed alternative of each
    `a | b` (or a package providing it), without the SKIPPED machinery."""
    providers: dict[str, str] = {}
    for package in packages.values():
        for virtual in package.provides:
            providers.setdefault(virtual, package.name)
    wanted: set[str] = set()
    todo = [name for name in roots]
    while todo:
        name = todo.pop()
        if name in wanted or name in SKIPPED:
            continue
        if name not in packages:
            raise SystemExit(f"rootfs: {name} is not installed in the build root")
        wanted.add(name)
        for group in packages[name].depends:
            chosen = next((alt for alt in group if alt in packages), None)
            chosen = chosen or next((providers[alt] for alt in group if alt in providers), None)
            if chosen is None:
                raise SystemExit(f"rootfs: {name} depends on {' | '.join(group)}, none installed")
            todo.append(chosen)
    return sorted(wanted)


def package_paths(build_root: Path, package: Package) -> list[str]:
    info = build_root / "var/lib/dpkg/info"
    listing = info / f"{package.name}:{package.arch}.list"
    if not listing.exists():
        listing = info / f"{package.name}.list"
    return [line for line in listing.read_text().splitlines() if line and line != "/."]


def kept(path: str) -> bool:
    if path.startswith("/usr/share/doc/") and path.endswith("/copyright"):
        return True  # the licences stay with the binaries they cover
    return not any(path.startswith(prefix) or path == prefix.rstrip("/") for prefix in DROPPED)


def _copy(src_root: Path, dst_root: Path, path: str) -> None:
    src, dst = src_root / path.lstrip("/"), dst_root / path.lstrip("/")
    info = src.lstat()
    if stat.S_ISDIR(info.st_mode):
        dst.mkdir(parents=True, exist_ok=True)
        dst.chmod(stat.S_IMODE(info.st_mode))
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.is_symlink() or dst.exists():
        return
    if stat.S_ISLNK(info.st_mode):
        os.symlink(os.readlink(src), dst)
    elif stat.S_ISREG(info.st_mode):
        shutil.copy2(src, dst)


def _compiled(src_root: Path, path: str) -> list[str]:
    """The bytecode compiled for a kept .py file (hash-checked .pyc files made in the build root)."""
    if not path.endswith(".py"):
        return []
    source = Path(path)
    cache = src_root / str(source.parent).lstrip("/") / "__pycache__"
    return [
        str(source.parent / "__pycache__" / pyc.name) for pyc in cache.glob(f"{source.stem}.cpython-*.pyc")
    ]


def _merged_usr(build_root: Path, out: Path) -> None:
    """/bin, /lib, /lib64 and /sbin are links into /usr in Debian; package file lists name paths
    through them, so the links and their targets come first."""
    for top in sorted(build_root.iterdir()):
        if top.is_symlink():
            target = os.readlink(top)
            (out / target.lstrip("/")).mkdir(parents=True, exist_ok=True)
            os.symlink(target, out / top.name)


def build(build_root: Path, out: Path) -> list[Package]:
    packages = installed(build_root)
    _merged_usr(build_root, out)
    chosen = [packages[name] for name in closure(packages)]
    for package in chosen:
        for path in package_paths(build_root, package):
            if not kept(path) or not os.path.lexists(build_root / path.lstrip("/")):
                continue
            _copy(build_root, out, path)
            for pyc in _compiled(build_root, path):
                _copy(build_root, out, pyc)
        # The packages' names and versions, where image scanners look in an image without dpkg.
        status_d = out / "var/lib/dpkg/status.d"
        status_d.mkdir(parents=True, exist_ok=True)
        (status_d / package.name).write_text(package.stanza + "\n")
    for tree in (*GENERATED, VENV):
        src = build_root / tree.lstrip("/")
        for found in sorted(src.rglob("*")):
            _copy(build_root, out, "/" + str(found.relative_to(build_root)))
    for name, text in ETC.items():
        (out / name).write_text(text)
    for mountpoint in ("proc", "sys", "dev", "run", "tmp"):
        (out / mountpoint).mkdir(exist_ok=True)
    (out / "tmp").chmod(0o1777)
    return chosen


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    build_root, out = Path(argv[0]), Path(argv[1])
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    chosen = build(build_root, out)
    print(f"[image] kept {len(chosen)} Debian packages: {' '.join(p.name for p in chosen)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
