"""SeaweedFS as the stack's S3-compatible object store, with its lifecycle worker; for pot_stack.stack and
the fixtures.

`weed` is built by tests/stack/build-s3.sh from the Go module proxy into ~/.cache/pot/s3 (a warm cache
answers at once). One `weed server` runs master, volume server, filer and the S3 gateway on loopback
ports of its own, telemetry off; a `weed shell` next to it runs the bucket lifecycle rules every two
seconds (`s3.lifecycle.run-shard -refresh`), as SeaweedFS's own S3 conformance tests do. The binary is
that same conformance build (tag s3tests): a lifecycle "day" lasts ten seconds, so a retention rule
visibly removes objects within a test. One identity with every right; its keys are in `env()`.
"""

from __future__ import annotations

import gzip
import json
import os
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from pot_stack.service import Service, free_port, wait_until

BUILD_SCRIPT = Path(__file__).resolve().parents[1] / "build-s3.sh"
BUCKET = "pot-transcripts"
REGION = "us-east-1"
LIFECYCLE_DAY_SECONDS = 10  # the s3tests build's lifecycle day (SeaweedFS util.LifeCycleInterval)
# Every shard of the lifecycle worker, re-read and run every 2 s, never stopping by itself.
LIFECYCLE_COMMAND = "s3.lifecycle.run-shard -shards 0-15 -s3 127.0.0.1:{grpc} -events 0 -refresh 2s\nexit\n"


def weed_binary() -> Path:
    """POT_WEED_BIN if set, else what build-s3.sh built (or finds cached); its progress goes to stderr."""
    override = os.environ.get("POT_WEED_BIN")
    if override:
        return Path(override)
    done = subprocess.run(["bash", str(BUILD_SCRIPT)], stdout=subprocess.PIPE, text=True, check=True)
    lines = done.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError(f"{BUILD_SCRIPT} printed no binary")
    return Path(lines[-1])


def _answers(url: str) -> bool:
    """The S3 gateway answers HTTP at all (403 to an anonymous request is an answer)."""
    try:
        with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - our own loopback http URL
            return True
    except urllib.error.HTTPError:
        return True


class S3Server(Service):
    """SeaweedFS with an S3 gateway: `.endpoint`, `.access_key`, `.secret_key`, `.bucket`, `.client()`."""

    name = "s3"

    def __init__(self, root: Path, bucket: str = BUCKET) -> None:
        super().__init__(root)
        self.bucket = bucket
        self.access_key = f"pot-{secrets.token_hex(8)}"
        self.secret_key = secrets.token_hex(20)
        self.port = 0
        self.grpc_port = 0
        self.lifecycle_log = root / "logs" / "s3-lifecycle.log"
        self._ports: dict[str, int] = {}

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {
            "POT_TRANSCRIPTS_ENDPOINT": self.endpoint,
            "POT_TRANSCRIPTS_BUCKET": self.bucket,
            "POT_TRANSCRIPTS_REGION": REGION,
            "POT_TRANSCRIPTS_ACCESS_KEY": self.access_key,
            "POT_TRANSCRIPTS_SECRET_KEY": self.secret_key,
        }

    def _identities(self) -> Path:
        """The gateway's one identity, in a 0600 file (it holds the secret key)."""
        config = {
            "identities": [
                {
                    "name": "pot",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                }
            ]
        }
        path = self.dir / "s3.json"
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(config, out)
        return path

    def start(self) -> None:
        weed = weed_binary()
        data = self.dir / "data"
        data.mkdir(parents=True, exist_ok=True)
        ports = {name: free_port() for name in ("master", "master_grpc", "volume", "volume_grpc", "filer")}
        ports.update({name: free_port() for name in ("filer_grpc", "s3", "s3_grpc")})
        self.port, self.grpc_port = ports["s3"], ports["s3_grpc"]
        self._ports = ports
        proc = self.spawn(
            [
                str(weed),
                "server",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                f"-dir={data}",
                "-master.telemetry=false",  # nothing leaves the machine
                "-master.raftHashicorp",
                "-master.electionTimeout=1s",
                "-master.peers=none",
                "-master.volumeSizeLimitMB=64",
                f"-master.port={ports['master']}",
                f"-master.port.grpc={ports['master_grpc']}",
                "-volume.max=64",
                "-volume.preStopSeconds=0",  # stops at once (a cluster waits for clients to move away)
                f"-volume.port={ports['volume']}",
                f"-volume.port.grpc={ports['volume_grpc']}",
                "-filer",
                f"-filer.port={ports['filer']}",
                f"-filer.port.grpc={ports['filer_grpc']}",
                f"-filer.localSocket={self.dir / 'filer.sock'}",
                "-s3",
                f"-s3.port={self.port}",
                f"-s3.port.grpc={self.grpc_port}",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                f"-s3.localSocket={self.dir / 's3.sock'}",
                f"-s3.config={self._identities()}",
            ],
            cwd=self.dir,
        )
        wait_until(
            lambda: proc.poll() is None and _answers(self.endpoint),
            timeout=90,
            what=f"SeaweedFS S3 on port {self.port}",
            log=self.log_path,
        )
        # The gateway answers before the filer behind it is ready: the first bucket may take a few tries.
        wait_until(
            lambda: proc.poll() is None and self._make_bucket(),
            timeout=60,
            what=f"bucket {self.bucket} on SeaweedFS",
            log=self.log_path,
        )
        self.spawn(
            [
                "sh",
                "-c",
                'printf "$0" | exec "$1" shell -debug "-master=127.0.0.1:$2"',
                LIFECYCLE_COMMAND.format(grpc=self.grpc_port),
                str(weed),
                f"{ports['master']}.{ports['master_grpc']}",
            ],
            log=self.lifecycle_log,
            cwd=self.dir,
        )

    def leftovers(self) -> list[Path]:
        """The gRPC sockets `weed server` always makes in /tmp (whatever its flags): removed after a stop."""
        names = ("master", "volume", "filer", "s3")
        ports = {name: self._ports.get(f"{name}_grpc") for name in names}
        return [Path(f"/tmp/seaweedfs-{name}-grpc-{port}.sock") for name, port in ports.items() if port]

    def stop(self) -> None:
        super().stop()
        for path in self.leftovers():
            path.unlink(missing_ok=True)

    def _make_bucket(self) -> bool:
        client = self.client()
        if not client.bucket_exists(self.bucket):
            client.make_bucket(self.bucket)
        return True

    def client(self) -> Any:
        """A minio.Minio client with the stack's keys (imported here: the stack runs without it too)."""
        from minio import Minio

        return Minio(
            f"127.0.0.1:{self.port}",
            access_key=self.access_key,
            secret_key=self.secret_key,
            secure=False,
            region=REGION,
        )

    def objects(self, prefix: str = "") -> dict[str, bytes]:
        """Every object under `prefix` in the bucket, gzip bodies decompressed: what a test inspects."""
        client = self.client()
        found: dict[str, bytes] = {}
        for item in client.list_objects(self.bucket, prefix=prefix, recursive=True):
            response = client.get_object(self.bucket, item.object_name)
            try:
                body = response.read()
            finally:
                response.close()
                response.release_conn()
            found[item.object_name] = gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body
        return found

    def clear(self) -> None:
        """Remove every object and the bucket's lifecycle rules (between tests)."""
        client = self.client()
        for item in client.list_objects(self.bucket, recursive=True):
            client.remove_object(self.bucket, item.object_name)
        client.delete_bucket_lifecycle(self.bucket)

    def wait_gone(self, key: str, timeout: float) -> float:
        """Seconds until `key` is gone from the bucket (the lifecycle worker removed it)."""
        began = time.monotonic()
        wait_until(
            lambda: (
                not any(True for _ in self.client().list_objects(self.bucket, prefix=key, recursive=True))
            ),
            timeout=timeout,
            what=f"lifecycle removing {key}",
            log=self.lifecycle_log,
        )
        return time.monotonic() - began
