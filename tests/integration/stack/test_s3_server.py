"""The stack's S3 store (SeaweedFS): objects round-trip with the keys it hands out, other keys are
refused, it listens on loopback only and reports nothing outside, and stopping it leaves nothing in /tmp.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest
from minio import Minio
from minio.error import S3Error
from pot_stack.s3_server import S3Server


def listening_ports(pid: int) -> set[tuple[str, int]]:
    """(address, port) of the TCP sockets process `pid` listens on (from /proc, IPv4 and IPv6)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = str(fd.readlink()) if fd.is_symlink() else ""
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
                address, port = fields[1].split(":")
                found.add((address, int(port, 16)))
    return found


def test_objects_round_trip_on_loopback_and_nothing_is_left(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    server = S3Server(tmp_path)
    server.start()
    try:
        client = server.client()
        body = gzip.compress(b'{"job": 1}\n')
        client.put_object(server.bucket, "acme/a.jsonl.gz", io.BytesIO(body), len(body))
        assert server.objects("acme/") == {"acme/a.jsonl.gz": b'{"job": 1}\n'}
        assert server.env()["POT_TRANSCRIPTS_ENDPOINT"] == server.endpoint
        stranger = Minio(server.endpoint.removeprefix("http://"), "nobody", "wrong-secret", secure=False)
        with pytest.raises(S3Error):
            stranger.list_objects(server.bucket).__next__()
        weed = server.procs[0]
        # 0100007F is 127.0.0.1 as /proc writes it: every port SeaweedFS opened is on loopback.
        addresses = {address for address, _ in listening_ports(weed.pid)}
        assert addresses == {"0100007F"}, addresses
        assert "-master.telemetry=false" in weed.args
        server.clear()
        assert server.objects() == {}
    finally:
        server.stop()
    assert server.leftovers() and not [path for path in server.leftovers() if path.exists()]
