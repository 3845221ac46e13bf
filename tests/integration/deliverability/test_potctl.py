"""potctl as a person runs it: a real process against the DNS server, probe server, fake chat and Postgres."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pot_stack.service import free_port


def potctl(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "potctl.main", *args],
        capture_output=True,
        text=True,
        input=stdin,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        timeout=120,
        check=False,
    )


@pytest.fixture
def dns_env(dns_server: Any) -> dict[str, str]:
    return {"POT_DNS_RESOLVER": dns_server.resolver}


def test_help_reads_like_a_manual() -> None:
    top = potctl("--help")
    assert top.returncode == 0 and "Operator tooling for POT" in top.stdout
    for command in (
        "preflight",
        "spf-check",
        "check-emails",
        "send-telegram",
        "send-slack",
        "feedback",
        "import-recipients",
        "status",
        "pause",
        "resume",
        "suppression",
    ):
        assert command in top.stdout
        assert potctl(command, "--help").returncode == 0


@pytest.mark.parametrize(
    ("args", "word", "code"),
    [
        (["--ip", "127.0.0.1", "--sender", "alice@good.test"], "pass", 0),
        (["--ip", "192.0.2.1", "--sender", "alice@good.test"], "fail", 1),
        (["--ip", "127.0.0.1", "--sender", "alice@badspf.test"], "permerror", 1),
        (["--ip", "198.51.100.50", "--sender", "", "--helo", "helo.spf.test"], "pass", 0),
    ],
)
def test_spf_check_prints_the_result_word_last(
    args: list[str], word: str, code: int, dns_env: dict[str, str]
) -> None:
    result = potctl("spf-check", *args, env=dns_env)
    assert result.stdout.strip().splitlines()[-1] == word, result.stdout + result.stderr
    assert result.returncode == code


def test_preflight_json_and_exit_status(dns_env: dict[str, str]) -> None:
    good = potctl("preflight", "good.test", "--smtp-host", "mx.good.test", "-o", "json", env=dns_env)
    assert good.returncode == 0 and json.loads(good.stdout)["level"] == "pass"
    listed = potctl(
        "preflight",
        "listed.test",
        "--smtp-host",
        "127.0.0.1",
        "--blocklists",
        "bl.test,domain:dbl.test",
        env=dns_env,
    )
    assert listed.returncode == 1 and "listed.test listed on dbl.test" in listed.stdout


def test_check_emails_csv_json_bad_rows_and_resume(
    tmp_path: Path, dns_env: dict[str, str], probe_server: Any
) -> None:
    source = tmp_path / "leads.csv"
    source.write_bytes(
        b"name,email\nAlice,alice@acme.probe.test\nbroken row\nNobody,nobody@acme.probe.test\n"
        b"Cat,x@catchall.probe.test\n"
    )
    state = tmp_path / "leads.state"
    env = {**dns_env, "POT_SMTP_PROBE_PORT": str(probe_server.port)}
    first = potctl(
        "check-emails",
        str(source),
        "--mode",
        "smtp",
        "-o",
        "json",
        "--state",
        str(state),
        "--interval",
        "0",
        env=env,
    )
    assert first.returncode == 0, first.stderr
    results = {r["address"]: r for r in map(json.loads, first.stdout.splitlines())}
    assert {a: r["result"] for a, r in results.items()} == {
        "alice@acme.probe.test": "valid",
        "nobody@acme.probe.test": "invalid",
        "x@catchall.probe.test": "risky",
    }
    assert results["nobody@acme.probe.test"]["smtp_reply"] == "550 5.1.1 No such user here"
    assert "line 3: 1 columns where the header has 2" in first.stderr
    sessions = len(probe_server.sessions)
    again = potctl(
        "check-emails", str(source), "--mode", "smtp", "-o", "json", "--state", str(state), env=env
    )
    assert "resuming: 3 of 3 already checked" in again.stderr
    assert len(again.stdout.splitlines()) == 3 and len(probe_server.sessions) == sessions


def test_check_emails_auto_falls_back_when_the_probe_port_is_closed(dns_env: dict[str, str]) -> None:
    env = {**dns_env, "POT_SMTP_PROBE_PORT": str(free_port())}
    result = potctl("check-emails", "-", "-o", "csv", stdin="alice@acme.probe.test\nbad@@x\n", env=env)
    assert "fell back to format+mx" in result.stderr
    rows = result.stdout.splitlines()
    assert rows[0] == "line,address,result,reason,smtp_reply,mode"
    assert rows[1].startswith("1,alice@acme.probe.test,valid,") and rows[1].endswith(",format+mx")
    assert rows[2].startswith("2,bad@@x,invalid,")


def test_check_emails_unreadable_file_is_an_error(tmp_path: Path) -> None:
    result = potctl("check-emails", str(tmp_path / "missing.csv"))
    assert result.returncode == 2 and "cannot read" in result.stderr


def test_send_telegram_from_stdin_never_prints_the_token(fake_chat: Any) -> None:
    env = {"POT_TELEGRAM_API_URL": fake_chat.url, "POT_TELEGRAM_TOKEN": "123:test-token"}
    result = potctl(
        "send-telegram", "--chat-id", "42", "--parse-mode", "HTML", stdin="<b>pool paused</b>", env=env
    )
    assert result.returncode == 0, result.stderr
    assert fake_chat.telegram_messages[0]["text"] == "<b>pool paused</b>"
    bad = potctl("send-telegram", "hi", "--chat-id", "42", env={**env, "POT_TELEGRAM_TOKEN": "9:leaky"})
    assert bad.returncode == 1 and "Unauthorized" in bad.stderr and "leaky" not in bad.stderr + bad.stdout


def test_send_telegram_token_from_vault(fake_chat: Any, vault: Any) -> None:
    import hvac

    hvac.Client(url=vault.addr, token=vault.token).secrets.kv.v2.create_or_update_secret(
        path="pot/alerts/telegram", secret={"token": "123:test-token"}, mount_point="secret"
    )
    env = {
        "POT_TELEGRAM_API_URL": fake_chat.url,
        "POT_VAULT_ADDR": vault.addr,
        "POT_VAULT_TOKEN": vault.token,
    }
    result = potctl(
        "send-telegram", "from vault", "--chat-id", "7", "--token-vault-path", "pot/alerts/telegram", env=env
    )
    assert result.returncode == 0, result.stderr
    assert fake_chat.telegram_messages[0]["text"] == "from vault"


HOOK = "/services/T000/B000/XXXX"


def test_send_slack_from_a_file(fake_chat: Any, tmp_path: Path) -> None:
    message = tmp_path / "msg.txt"
    message.write_text("campaign done")
    result = potctl("send-slack", "--file", str(message), env={"POT_SLACK_WEBHOOK": fake_chat.url + HOOK})
    assert result.returncode == 0, result.stderr
    assert fake_chat.slack_messages == [{"hook": HOOK, "text": "campaign done"}]


def test_send_slack_webhook_from_vault_rebased_onto_the_base(fake_chat: Any, vault: Any) -> None:
    # As for the operator: the webhook names hooks.slack.com, POT_SLACK_WEBHOOK_URL is only the base.
    vault.client().secrets.kv.v2.create_or_update_secret(
        path="pot/alerts/slack", secret={"url": "https://hooks.slack.com" + HOOK}, mount_point="secret"
    )
    env = {
        "POT_SLACK_WEBHOOK_URL": fake_chat.url,
        "POT_VAULT_ADDR": vault.addr,
        "POT_VAULT_TOKEN": vault.token,
    }
    result = potctl("send-slack", "from vault", "--webhook-vault-path", "pot/alerts/slack", env=env)
    assert result.returncode == 0, result.stderr
    assert fake_chat.slack_messages == [{"hook": HOOK, "text": "from vault"}]
    output = result.stdout + result.stderr
    assert "XXXX" not in output and "hooks.slack.com" not in output


def test_send_slack_base_alone_is_not_a_webhook(fake_chat: Any) -> None:
    result = potctl("send-slack", "x", env={"POT_SLACK_WEBHOOK_URL": fake_chat.url, "POT_SLACK_WEBHOOK": ""})
    assert result.returncode == 2 and "set POT_SLACK_WEBHOOK or give --webhook-vault-path" in result.stderr
    assert fake_chat.slack_messages == []


def test_send_slack_missing_vault_secret_is_named_without_a_traceback(vault: Any) -> None:
    env = {"POT_VAULT_ADDR": vault.addr, "POT_VAULT_TOKEN": vault.token}
    result = potctl("send-slack", "x", "--webhook-vault-path", "pot/alerts/nothing-here", env=env)
    assert result.returncode == 1, result.stderr
    assert "cannot read pot/alerts/nothing-here from Vault" in result.stderr
    assert "Traceback" not in result.stderr and vault.token not in result.stderr


def test_suppression_round_trip(database: str, tmp_path: Path) -> None:
    env = {"POT_DATABASE_URL": database}
    assert (
        potctl("suppression", "add", "Bob@X.test", "carol@x.test", "--tenant", "acme", env=env).returncode
        == 0
    )
    listed = potctl("suppression", "list", "--tenant", "acme", env=env)
    assert "bob@x.test" in listed.stdout and "carol@x.test" in listed.stdout
    assert "bob@x.test" not in potctl("suppression", "list", "--tenant", "other", env=env).stdout
    assert potctl("suppression", "remove", "carol@x.test", "--tenant", "acme", env=env).returncode == 0
    assert potctl("suppression", "remove", "carol@x.test", "--tenant", "acme", env=env).returncode == 1
    export = tmp_path / "s.csv"
    potctl("suppression", "export", "--tenant", "acme", "-o", str(export), env=env)
    lines = export.read_text().splitlines()
    assert lines[0] == "address,reason,source,created_at" and lines[1].startswith("bob@x.test,manual,potctl,")
    assert len(lines) == 2


def test_feedback_writes_events_and_suppresses(database: str, tmp_path: Path) -> None:
    import asyncio

    import asyncpg

    env = {"POT_DATABASE_URL": database}
    assert potctl("feedback", "complaint", "dan@x.test", "--tenant", "acme", env=env).returncode == 0
    feedback = tmp_path / "fb.csv"
    feedback.write_text("address,kind\neve@x.test,bounce\nfay@x.test,reply\ngus@x.test,nonsense\n")
    result = potctl("feedback", "--csv", str(feedback), "--tenant", "acme", env=env)
    assert "line 4: need address and kind" in result.stderr

    async def read() -> tuple[list[Any], list[Any]]:
        conn = await asyncpg.connect(database)
        try:
            events = await conn.fetch("SELECT recipient, outcome FROM delivery_events ORDER BY recipient")
            suppressed = await conn.fetch("SELECT address, reason FROM suppressions ORDER BY address")
            return list(events), list(suppressed)
        finally:
            await conn.close()

    events, suppressed = asyncio.run(read())
    assert [tuple(e) for e in events] == [
        ("dan@x.test", "complaint"),
        ("eve@x.test", "bounced"),
        ("fay@x.test", "replied"),
    ]
    assert [tuple(s) for s in suppressed] == [("dan@x.test", "complaint"), ("eve@x.test", "hard_bounce")]


def test_import_recipients_reports_what_it_left_out(database: str, tmp_path: Path) -> None:
    env = {"POT_DATABASE_URL": database, "POT_DNS_RESOLVER": "127.0.0.1:1"}
    potctl("suppression", "add", "sup@x.test", "--tenant", "acme", env=env)
    source = tmp_path / "r.csv"
    source.write_text(
        "email,first_name\nann@x.test,Ann\nnot-an-address,Bo\nANN@x.test,Dup\nsup@x.test,S\nshort\n"
        "cy@x.test,Cy\n"
    )
    result = potctl(
        "import-recipients", str(source), "--tenant", "acme", "--list", "spring", "--report", "json", env=env
    )
    report = json.loads(result.stdout)
    assert result.returncode == 1 and report["imported"] == 2
    assert [(p["line"], p["problem"].split(":")[0]) for p in report["rejected"]] == [
        (3, "bad syntax"),
        (4, "duplicate of line 2"),
        (5, "suppressed for this tenant"),
        (6, "1 columns where the header has 2"),
    ]
