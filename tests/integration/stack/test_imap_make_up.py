"""`make up` brings the IMAP server and the OAuth2 token endpoint up with the rest, wires the sink's XOAUTH2
and late delivery to them, writes their addresses to `.pot/env`, and `down` stops them."""

from __future__ import annotations

import email.parser
import email.policy
import imaplib
import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pot_stack.imap_server import ImapServer
from pot_stack.oauth_server import OAuthService
from pot_stack.stack import group_members, read_env
from pot_stack.xoauth2 import client_response


def pot_stack(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pot_stack", *args], capture_output=True, text=True, timeout=600, check=False
    )


@pytest.fixture
def root(request: pytest.FixtureRequest) -> Iterator[Path]:
    # Outside pytest's 0700 tmp folder: Dovecot's mail processes and Postgres run as other users.
    path = Path(tempfile.mkdtemp(prefix="pot-up-imap-"))
    path.chmod(0o755)
    failed_before = request.session.testsfailed
    yield path
    pot_stack("down", "--root", str(path))
    if request.session.testsfailed == failed_before:
        shutil.rmtree(path, ignore_errors=True)
    else:
        print(f"stack logs kept in {path / 'logs'}")


def test_make_up_serves_imap_oauth_and_late_delivery(root: Path) -> None:
    up = pot_stack("up", "--root", str(root), "--without-controlplane")
    assert up.returncode == 0, up.stderr
    state = json.loads((root / "state.json").read_text())
    names = [entry["name"] for entry in state["services"]]
    assert {"oauth", "imap", "smtp-sink"} <= set(names)
    env = read_env(root)
    for key in (
        "POT_STACK_OAUTH_URL",
        "POT_STACK_OAUTH_TOKEN_URL",
        "POT_STACK_IMAP_HOST",
        "POT_STACK_IMAP_PORT",
    ):
        assert env[key], key

    # A mailbox as a demo or an e2e test wires one against `make up`: an OAuth grant, an IMAP user.
    oauth = OAuthService.attach(root, env)
    imap = ImapServer.attach(root, env)
    user = f"up-{uuid.uuid4().hex[:8]}@acme-mail.test"
    oauth.register(user, "cid", "csecret", f"rt-{user}")
    imap.add_user(user)
    form = {"grant_type": "refresh_token", "refresh_token": f"rt-{user}", "client_id": "cid"}
    token = httpx.post(env["POT_STACK_OAUTH_TOKEN_URL"], data={**form, "client_secret": "csecret"}).json()
    access = token["access_token"]

    import smtplib

    with smtplib.SMTP(env["POT_SMTP_HOST"], int(env["POT_SMTP_PORT"]), timeout=10) as smtp:
        smtp.ehlo()
        assert smtp.docmd("AUTH", f"XOAUTH2 {client_response(user, access)}")[0] == 235
        msg_id = f"<{uuid.uuid4().hex}@acme-mail.test>"
        smtp.sendmail(
            user, ["late-bounce-x@example.test"], f"Subject: up\r\nMessage-ID: {msg_id}\r\n\r\nhi\r\n"
        )

    deadline = time.monotonic() + 30
    found: list[bytes] = []
    while not found and time.monotonic() < deadline:
        conn = imaplib.IMAP4(env["POT_STACK_IMAP_HOST"], int(env["POT_STACK_IMAP_PORT"]), timeout=10)
        conn.authenticate("XOAUTH2", lambda _: f"user={user}\x01auth=Bearer {access}\x01\x01".encode())
        count = int(conn.select("INBOX")[1][0] or 0)
        if count:
            found = [p[1] for p in conn.fetch("1", "(RFC822)")[1] if isinstance(p, tuple)]
        conn.logout()
        time.sleep(0.5)
    (raw,) = found
    bounce = email.parser.BytesParser(policy=email.policy.default).parsebytes(raw)
    assert bounce.get_content_type() == "multipart/report" and msg_id in raw.decode()
    assert oauth.token_requests(f"rt-{user}") == 1

    down = pot_stack("down", "--root", str(root))
    assert down.returncode == 0, down.stderr
    for entry in state["services"]:
        for pgid in entry["pgids"]:
            assert group_members(pgid) == [], f"{entry['name']} left processes in group {pgid}"
