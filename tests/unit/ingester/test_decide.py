"""The ingester's pure decisions: what each kind of message does, its key, where a read resumes."""

from __future__ import annotations

import pytest
from pot_feedback.classify import Verdict
from pot_ingester.decide import Effect, effect, message_key, note, referenced_ids, resume_after


def verdict(
    kind: str, *, hard: bool = False, unsubscribe: bool = False, refs: tuple[str, ...] = ()
) -> Verdict:
    return Verdict(kind, "5.1.1" if kind == "bounce" else None, hard, "r", "a@b.test", refs, unsubscribe)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("v", "expected"),
    [
        (verdict("bounce", hard=True), Effect("late_bounce", "hard_bounce")),
        (verdict("bounce", hard=False), Effect("late_soft_bounce")),
        (verdict("complaint"), Effect("complaint", "complaint")),
        (verdict("auto-reply"), Effect("auto_reply")),
        (verdict("auto-reply", unsubscribe=True), Effect("auto_reply")),
        (verdict("reply"), Effect("reply", "reply", cancel=True)),
        (verdict("reply", unsubscribe=True), Effect("reply", "unsubscribe", cancel=True)),
        (verdict("unknown"), Effect(None)),
    ],
)
def test_each_kind_has_its_effect(v: Verdict, expected: Effect) -> None:
    assert effect(v) == expected


def test_the_note_names_kind_reason_and_status_only() -> None:
    assert note(verdict("bounce", hard=True)) == "bounce: r 5.1.1"
    assert note(verdict("reply")) == "reply: r"


def test_the_key_is_the_message_id_of_the_header_only() -> None:
    raw = b"Subject: x\r\nMessage-ID: <abc@x.test>\r\n\r\nMessage-ID: <body@x.test>\r\n"
    assert message_key(raw) == "mid:<abc@x.test>"
    folded = b"From: a\nmessage-id:   <low@x.test>\n\nbody"
    assert message_key(folded) == "mid:<low@x.test>"


def test_a_message_without_message_id_is_known_by_its_bytes() -> None:
    one = message_key(b"Subject: x\r\n\r\nMessage-ID: <in-body@x.test>\r\n")
    assert one.startswith("sha256:")
    assert one == message_key(b"Subject: x\r\n\r\nMessage-ID: <in-body@x.test>\r\n")
    assert one != message_key(b"Subject: y\r\n\r\n")


def test_pot_message_ids_name_their_job_other_ids_do_not() -> None:
    refs = ("<pot.3.41.2@acme.test>", "<other@x.test>", "<pot.3.41.1@acme.test>", "<pot.x.1.1@a>")
    ids, jobs = referenced_ids(verdict("reply", refs=refs))
    assert ids == list(refs)
    assert jobs == [41]


def test_references_are_bounded_and_unique() -> None:
    refs = (*[f"<pot.1.{i}.1@a.test>" for i in range(80)], "<pot.1.0.1@a.test>")
    ids, jobs = referenced_ids(verdict("reply", refs=refs))
    assert len(ids) == 50 and len(jobs) == 50


def test_a_read_resumes_after_the_checkpoint_of_the_same_uidvalidity_only() -> None:
    assert resume_after(None, 7) == 0
    assert resume_after((7, 120), 7) == 120
    assert resume_after((6, 120), 7) == 0


def test_a_message_id_with_unprintable_bytes_is_known_by_the_hash() -> None:
    assert message_key(b"Message-ID: <a\x00b@x.test>\r\n\r\n").startswith("sha256:")
    assert message_key("Message-ID: <é@x.test>\r\n\r\n".encode()).startswith("sha256:")


def test_a_policy_bounce_counts_against_the_mailbox_but_suppresses_nobody() -> None:
    # 5.7.x: the sending IP or domain was refused (a blocklist, DMARC), not the address.
    policy = Verdict("bounce", "5.7.1", True, "policy", "a@b.test", (), False)
    assert effect(policy) == Effect("late_bounce")
