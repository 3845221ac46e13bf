"""`make demo` end to end: the whole local stack, the operator, the local runner and its workers send the
example campaign into the sink, the operator announces its completion on the fake Telegram and Slack
(once each, no token in its log); then `down` leaves nothing behind."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from pot_common.unsubscribe import Unsubscriber, verify_token
from pot_stack.demo import load_env, placeholder_holes, resolved, shown_message
from pot_stack.fake_chat import read_store
from pot_stack.smtp_sink import read_maildir

REFUSED_PREFIXES = ("bounce-", "full-", "spam-", "defer-", "throttle-")


def _stack(root: Path, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pot_stack", *args, "--root", str(root)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def stack_dir() -> Iterator[Path]:
    # Under /tmp, world-traversable: the Postgres server runs as its own user (see pot_stack.postgres).
    root = Path(tempfile.mkdtemp(prefix="pot-demo-"))
    root.chmod(0o755)
    yield root
    _stack(root, "down", timeout=120)
    shutil.rmtree(root, ignore_errors=True)


def test_demo_sends_the_example_campaign_into_the_sink_and_down_stops_everything(stack_dir: Path) -> None:
    up = _stack(stack_dir, "up", timeout=180)
    assert up.returncode == 0, up.stdout + up.stderr
    state = json.loads((stack_dir / "state.json").read_text())
    assert {s["name"] for s in state["services"]} >= {
        "operator",
        "local-runner",
        "controlplane",
        "smtp-sink",
        "chat",
    }

    demo = _stack(stack_dir, "demo", "--timeout", "300", timeout=360)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    summary = json.loads((stack_dir / "demo.json").read_text())
    counts = summary["counts"]
    assert summary["phase"] == "Completed"
    # The example list: five ordinary recipients, one hard bounce, and four refused or deferred until
    # the retries run out (mailbox full, policy, deferral, throttling).
    assert counts["total"] == 10
    assert counts["sent"] == 5
    assert counts["bounced"] == 1
    assert counts["queued"] == 0 and counts["deferred"] == 0

    stored = read_maildir(stack_dir / "mail")
    recipients = [mail.rcpt_to for mail in stored]
    assert len(recipients) == counts["sent"], "every accepted message is in the sink exactly once"
    assert len(set(recipients)) == len(recipients)
    assert not any(r.split("@")[0].startswith(REFUSED_PREFIXES) for r in recipients)
    # Sent the way a real mailbox sends: over STARTTLS, authenticated as the mailbox's Vault username.
    assert all(mail.tls for mail in stored)
    assert {mail.auth_user for mail in stored} <= {
        "alice@acme-mail.test",
        "bob@acme-mail.test",
        "carol@acme-outreach.test",
    }
    assert all(mail.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click" for mail in stored)

    # No message has a hole where a variable goes ("I am  from Acme", "Hi ,"), and make demo printed
    # the first one as the recipient got it.
    for mail in stored:
        text = shown_message(mail.message)
        assert not placeholder_holes(text), (mail.rcpt_to, placeholder_holes(text))
    assert "The first message the sink accepted" in demo.stdout
    assert shown_message(stored[0].message).split("\n\n", 1)[1] in demo.stdout
    assert f"Subject: {stored[0].message['Subject']}" in demo.stdout

    # Each recipient's unsubscribe link carries its own token, made with the key the demo wrote.
    key = _secret(stack_dir, resolved(load_env(stack_dir), "unsubscribe"), "key").encode()
    for mail in stored:
        link = str(mail.message["List-Unsubscribe"]).split(",")[0].strip("<> ")
        token = link.partition("token=")[2]
        assert verify_token(key, token) == Unsubscriber("pot-demo", summary["campaign"], mail.rcpt_to.lower())

    # The completion alert reached both of the example pool's routes exactly once, as the fake chat
    # stored it and as the demo reports it.
    completed = f"campaign pot-demo/{summary['campaign']} completed: {counts['sent']} sent"
    received = read_store(stack_dir / "chat")
    for channel in ("telegram", "slack"):
        texts = [m["text"] for m in received[channel]]
        assert sum(completed in t for t in texts) == 1, (channel, texts)
        assert [m["text"] for m in summary["alerts"][channel]] == texts
    assert completed in demo.stdout
    assert received["telegram"][0]["chat"]["id"] == "-1001234567890"  # examples/mailboxpool.yaml

    # The secrets the demo wrote into Vault appear nowhere: not in the operator's log (which did log
    # the sends), not in what the demo printed or wrote, not in what the fake chat stored.
    secrets = _alert_secrets(stack_dir)
    webhook_path = secrets["url"].split("hooks.slack.com", 1)[1]
    operator_log = (stack_dir / "logs" / "operator.log").read_text()
    assert "Sent alert: route=telegram:pot-demo/" in operator_log
    assert "Sent alert: route=slack:pot-demo/" in operator_log
    written = "".join(p.read_text() for p in [stack_dir / "demo.json", *(stack_dir / "chat").glob("*.jsonl")])
    for where, text in (("operator log", operator_log), ("demo output", demo.stdout + demo.stderr)):
        for secret in (secrets["token"], secrets["token"].split(":")[1], webhook_path):
            assert secret not in text, f"a Vault alert secret appears in the {where}"
            assert secret not in written

    down = _stack(stack_dir, "down", timeout=120)
    assert down.returncode == 0, down.stdout + down.stderr
    assert (
        not (stack_dir / "state.json").exists()
        or "running" not in _stack(stack_dir, "status", timeout=30).stdout
    )


def _secret(stack_dir: Path, path: str, field: str) -> str:
    import hvac

    env = load_env(stack_dir)
    client = hvac.Client(url=env["POT_VAULT_ADDR"], token=env["POT_VAULT_TOKEN"])
    secret = client.secrets.kv.v2.read_secret_version(
        path=path, mount_point="secret", raise_on_deleted_version=True
    )
    return str(secret["data"]["data"][field])


def _alert_secrets(stack_dir: Path) -> dict[str, str]:
    """The example pool's bot token and webhook URL, as the demo wrote them into the stack's OpenBao."""
    import hvac
    import yaml

    env = load_env(stack_dir)
    pool = next(
        d
        for d in yaml.safe_load_all((Path(__file__).parents[3] / "examples" / "mailboxpool.yaml").read_text())
        if d and d.get("kind") == "MailboxPool"
    )
    client = hvac.Client(url=env["POT_VAULT_ADDR"], token=env["POT_VAULT_TOKEN"])

    def read(path: str, field: str) -> str:
        secret = client.secrets.kv.v2.read_secret_version(
            path=path, mount_point="secret", raise_on_deleted_version=True
        )
        return str(secret["data"]["data"][field])

    # The example names paths relative to the namespace's folder, as the operator resolves them.
    alerts = pool["spec"]["alerts"]
    return {
        "token": read(resolved(env, alerts["telegram"]["tokenVaultPath"]), "token"),
        "url": read(resolved(env, alerts["slack"]["webhookVaultPath"]), "url"),
    }
