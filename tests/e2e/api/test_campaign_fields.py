"""Campaign fields doing what docs/api.md says, on the real control plane, Postgres, Redis, OpenBao, the
operator, a real worker run by the local runner and an SMTP sink (issue 12): templates (fallbacks,
spintax stable per recipient, the Mailbox's sender variables, TemplateValid=False before any job, a
5,000-character Subject folded under 998 octets), each recipient's verifiable unsubscribe token and
`oneClick: false`, named suppression lists, the list's send order with the first duplicate winning,
rejected CSV rows named by record and line in an Event while the good rows go on, and `unknown`
counted on its own.

One world for the module: its campaigns are created together and run side by side; one worker sends
one job at a time (batch 1, one lane), so the sink's arrival order is the claim order.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from pot_common.templates import spin_seed, spinner
from pot_common.unsubscribe import verify_token
from pot_stack.e2e import condition, wait_for
from pot_stack.smtp_sink import StoredMail
from potctl.main import app
from typer.testing import CliRunner

from .world import UNSUBSCRIBE_KEY, World, campaign, mailbox, module_world, pool

SIGNATURE = "Alice Example\nAcme Outreach"
LONG = "x" * 5000  # one 5,000-character CSV cell, no space to fold at (template.variables stop at 4 KiB)
GREETINGS = ("Hi", "Hello")
# Records 4 and 6 are rejected; record 3 spans two lines, so from there on record and line differ.
GREET_CSV = (
    "email,first_name,note\n"
    "zed@example.test,Zed,\n"
    "amy@example.test,,\n"
    'multi@example.test,Multi,"two\nlines"\n'
    "not-an-address,Bob,\n"
    "bea@example.test,Bea,\n"
    "short@example.test,Short\n"
    "AMY@example.test,Duplicate,\n"
    "blocked@example.test,Blocked,\n"
    "carl@example.test,Carl,\n"
)
GREET_ORDER = [
    "zed@example.test",
    "amy@example.test",
    "multi@example.test",
    "bea@example.test",
    "carl@example.test",
]
UNSUB = {"url": "https://unsubscribe.acme-mail.test/u?e={{email}}", "mailto": "unsub@acme-mail.test"}


bare_world = module_world(
    "api-fields", worker_env={"POT_LANES": "1", "POT_BATCH_SIZE": "1", "POT_BATCH_SIZE_MAX": "1"}
)


@pytest.fixture(scope="module")
def world(bare_world: World) -> World:
    """The module's objects, created together so their campaigns run side by side."""
    w = bare_world
    w.put_secret("mailboxes/m1", {"username": "m1", "password": "pw-m1"})
    suppress = CliRunner().invoke(
        app,
        [
            "suppression",
            "add",
            "blocked@example.test",
            "--tenant",
            w.namespace,
            "--list",
            "blocked",
            "--database-url",
            w.database,
        ],
    )
    assert suppress.exit_code == 0, suppress.output
    w.create("mailboxpools", pool("p"))
    w.create("mailboxes", mailbox("m1", "p", w.sink, displayName="Alice from Acme", signature=SIGNATURE))
    w.config_map("greet-list", GREET_CSV)
    w.config_map("plain-list", "email,first_name\nblocked@example.test,Blocked\nplain@example.test,Pat\n")
    w.config_map("long-list", "email,topic\n" + "".join(f"l{i}@example.test,{LONG}\n" for i in range(3)))
    w.config_map("few", "email,first_name\nu1@example.test,U1\nu2@example.test,U2\nu3@example.test,U3\n")
    greeting = "{Hi|Hello} {{ first_name | default('there') }}"
    w.create(
        "campaigns",
        campaign(
            "greet",
            "p",
            "greet-list",
            template={
                "subject": greeting,
                "text": greeting + ",\nI am {{ sender_name }} <{{ sender_email }}> from {{ company }}.\n"
                "--\n{{ sender_signature }}\n",
                "variables": {"company": "Acme"},
            },
            suppressionLists=["blocked"],
            unsubscribe=UNSUB,
        ),
    )
    w.create(
        "campaigns",
        campaign(
            "plain",
            "p",
            "plain-list",
            template={"subject": "Plain {{ first_name }}", "text": "Hi {{ first_name }}"},
            unsubscribe={"url": "https://unsubscribe.acme-mail.test/u/{token}", "oneClick": False},
        ),
    )
    w.create(
        "campaigns",
        campaign(
            "long",
            "p",
            "long-list",
            template={"subject": "Re: {{ topic }}", "text": "Hello"},
            unsubscribe=UNSUB,
        ),
    )
    w.create(
        "campaigns",
        campaign("typo", "p", "few", template={"subject": "Hi {{ frist_name }}", "text": "{{ plan }}"}),
    )
    # Held from the start: its jobs exist and nothing claims them until it is resumed.
    w.create("campaigns", campaign("crash", "p", "few", suspend=True, unsubscribe=UNSUB))
    return w


def link_token(mail: StoredMail) -> str:
    link = str(mail.message["List-Unsubscribe"]).split(",")[0].strip("<> ")
    if "token=" in link:
        return link.partition("token=")[2]
    return urlsplit(link).path.rsplit("/", 1)[1]


def by_campaign(world: World) -> dict[str, list[StoredMail]]:
    """The sink's messages (oldest first) by the campaign their unsubscribe token names, every token
    verified with the namespace's key and naming its own recipient."""
    out: dict[str, list[StoredMail]] = defaultdict(list)
    for mail in world.sink.messages():
        who = verify_token(UNSUBSCRIBE_KEY.encode(), link_token(mail))
        assert (who.tenant, who.address) == (world.namespace, mail.rcpt_to.lower())
        out[who.campaign].append(mail)
    return out


def body_text(mail: StoredMail) -> str:
    part = mail.message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def test_templates_tokens_order_suppression_and_rejected_rows(world: World) -> None:
    status = world.wait_phase("greet", "Completed", timeout=90)
    world.wait_phase("plain", "Completed", timeout=30)
    sent = by_campaign(world)
    ns = world.namespace

    # The list's order, the first of duplicate rows (amy, no first name: the fallback), the suppressed
    # address left out.
    greet = sent["greet"]
    assert [m.rcpt_to for m in greet] == GREET_ORDER
    assert status["counts"]["sent"] == 5
    for mail in greet:
        first = {"zed": "Zed", "amy": "there", "multi": "Multi", "bea": "Bea", "carl": "Carl"}[
            mail.rcpt_to.split("@")[0]
        ]
        # Spintax: the option this recipient's seed picks, in the body and the Subject alike.
        hello = GREETINGS[spinner(spin_seed(f"{ns}/greet", mail.rcpt_to))(0, 2)]
        assert mail.message["Subject"] == f"{hello} {first}"
        assert body_text(mail) == (
            f"{hello} {first},\nI am Alice from Acme <m1@acme-mail.test> from Acme.\n--\n{SIGNATURE}\n"
        )
        assert mail.message["From"].addresses[0].display_name == "Alice from Acme"
        assert mail.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    # A campaign that does not name the list mails the address; oneClick: false leaves the POST header
    # out; its {token} link carries the recipient's token (verified in by_campaign).
    assert [m.rcpt_to for m in sent["plain"]] == ["blocked@example.test", "plain@example.test"]
    assert all(m.message["List-Unsubscribe-Post"] is None for m in sent["plain"])
    assert all(m.message["List-Unsubscribe"] for m in sent["plain"])

    # Rejected rows: one Warning Event naming each by record and line; the good rows went on.
    events = [e.message for e in world.events("RecipientsRejected") if e.involved_object.name == "greet"]
    assert len(events) == 1, events
    assert "2 recipient rows left out" in events[0]
    assert "record 4 (line 6): no valid address" in events[0]
    assert "record 6 (line 8): 2 of 3 fields" in events[0]


def test_a_placeholder_nothing_defines_holds_the_campaign_before_any_job(world: World) -> None:
    def held() -> dict[str, Any] | None:
        obj = world.get("campaigns", "typo")
        return obj if condition(obj, "TemplateValid").get("status") == "False" else None

    obj = wait_for(held, 60, "TemplateValid False", world.logs)
    message = condition(obj, "TemplateValid")["message"]
    assert "frist_name" in message and "plan" in message
    assert condition(obj, "Ready")["status"] == "False"
    jobs = world.sql(
        "SELECT count(*) AS n FROM send_jobs j JOIN campaigns c ON c.id = j.campaign_id WHERE c.name = 'typo'"
    )
    assert jobs[0]["n"] == 0


def test_a_five_thousand_character_subject_is_folded_under_998_octets(world: World) -> None:
    world.wait_phase("long", "Completed", timeout=60)
    mails = by_campaign(world)["long"]
    assert len(mails) == 3
    for mail in mails:
        assert mail.message["Subject"] == "Re: " + LONG
        raw = Path(mail.path).read_bytes()
        head = raw.split(b"\n\n", 1)[0]
        assert max(len(line.rstrip(b"\r")) for line in head.split(b"\n")) <= 998


def test_a_job_whose_send_outlived_its_lease_counts_as_unknown_not_failed(world: World) -> None:
    def jobs() -> list[Any]:
        return world.sql(
            "SELECT j.id FROM send_jobs j JOIN campaigns c ON c.id = j.campaign_id"
            " WHERE c.name = 'crash' ORDER BY j.id"
        )

    wait_for(lambda: len(jobs()) == 3, 60, "the held campaign's jobs", world.logs)
    # A worker died while sending it: its lease ran out in 'sending'. The live worker reaps it.
    world.sql(
        "UPDATE send_jobs SET state = 'sending', claimed_by = 'dead-worker', attempts = 1,"
        " lease_until = now() - interval '1 minute' WHERE id = $1",
        jobs()[0]["id"],
    )
    wait_for(
        lambda: (
            world.sql("SELECT state::text AS s FROM send_jobs WHERE id = $1", jobs()[0]["id"])[0]["s"]
            == "unknown"
        ),
        30,
        "the job reaped as unknown",
        world.logs,
    )
    world.custom.patch_namespaced_custom_object(
        "pot.dev", "v1alpha1", world.namespace, "campaigns", "crash", {"spec": {"suspend": False}}
    )
    counts = world.wait_phase("crash", "Completed", timeout=60)["counts"]
    assert (counts["sent"], counts["unknown"], counts["failed"]) == (2, 1, 0)
    assert len(by_campaign(world)["crash"]) == 2

    # Ended: a later scan stores the counts once (retention may then delete the jobs), and they are the
    # status's.
    def stored() -> Any:
        query = "SELECT final_counts::text AS f FROM campaigns WHERE namespace = $1 AND name = 'crash'"
        rows = world.sql(query, world.namespace)
        return json.loads(rows[0]["f"]) if rows and rows[0]["f"] else None

    wait_for(lambda: stored() is not None, 30, "the ended campaign's counts stored", world.logs)
    final = stored()
    assert (final["sent"], final["unknown"], final["failed"]) == (2, 1, 0)
