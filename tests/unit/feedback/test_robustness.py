"""classify() answers every input with a Verdict, never an exception, in bounded time: random bytes,
mangled corpus messages, hostile structures (deep nesting, many parts, huge lines, bad charsets)."""

from __future__ import annotations

import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pot_feedback.classify import Verdict, classify

CORPUS = Path(__file__).parent / "corpus"
SAMPLES = sorted(p.read_bytes() for p in CORPUS.glob("*/*.eml"))
KINDS = {"bounce", "complaint", "auto-reply", "reply", "unknown"}


def _valid(verdict: Verdict) -> None:
    assert verdict.kind in KINDS
    assert verdict.status is None or verdict.status[0] in "245"
    assert verdict.reason and " " not in verdict.reason
    assert verdict.recipient is None or verdict.recipient == verdict.recipient.lower()
    assert all(ref.startswith("<") and ref.endswith(">") for ref in verdict.references)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_random_bytes_give_a_verdict(raw: bytes) -> None:
    _valid(classify(raw))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SAMPLES),
    st.lists(st.tuples(st.integers(0, 1 << 16), st.binary(min_size=0, max_size=8)), max_size=8),
    st.integers(0, 1 << 16),
)
def test_mangled_corpus_messages_give_a_verdict(raw: bytes, edits: list[tuple[int, bytes]], cut: int) -> None:
    data = bytearray(raw[: max(cut, 1)] if cut < len(raw) else raw)
    for at, junk in edits:
        at %= max(len(data), 1)
        data[at : at + len(junk)] = junk
    _valid(classify(bytes(data)))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300), st.text(max_size=2000))
def test_any_header_and_body_text_give_a_verdict(subject: str, body: str) -> None:
    raw = f"From: a@b.example\nSubject: {subject}\nIn-Reply-To: <x@y>\n\n{body}"
    _valid(classify(raw.encode("utf-8", "surrogatepass")))


def _timed(raw: bytes) -> float:
    start = time.perf_counter()
    _valid(classify(raw))
    return time.perf_counter() - start


def test_hostile_messages_are_answered_quickly() -> None:
    head = b"From: MAILER-DAEMON@x.example\nSubject: Undelivered Mail Returned to Sender\n"
    cases = {
        "one huge line without @": head + b"\n" + b"a" * 20_000_000,
        "a sea of @": head + b"\n" + b"@a" * 500_000,
        "long local parts": head + b"\n" + (b"x" * 5000 + b"@") * 2000,
        "dotted digits": head + b"\n" + b"5.1.1." * 400_000,
        "thousands of parts": b"Content-Type: multipart/mixed; boundary=b\n\n"
        + b"--b\nContent-Type: text/plain\n\n550 5.1.1 user unknown\n" * 20_000,
        "deep nesting": b"".join(
            b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n" % (i, i) for i in range(3000)
        ),
        "endless header": b"Subject: " + b"=?utf-8?q?" + b"=E2=82" * 1_000_000 + b"\n\nbody",
        "quote markers": b"From: a@b.example\nIn-Reply-To: <x@y>\n\n" + b"On " * 3_000_000,
        "html tags": b"Content-Type: text/html\nIn-Reply-To: <x@y>\n\n" + b"<a" * 3_000_000,
        "unclosed styles": b"Content-Type: text/html\nIn-Reply-To: <x@y>\n\n" + b"<style>" * 1_000_000,
        "pages of blank lines": b"From: a@b.example\nIn-Reply-To: <x@y>\n\n" + b" \n" * 3_000_000,
        "thousands of dsn blocks": b"Content-Type: multipart/report; boundary=b\n\n--b\n"
        b"Content-Type: message/delivery-status\n\n" + b"Action: failed\nStatus: 5.1.1\n\n" * 100_000,
    }
    slow = {name: round(t, 2) for name, raw in cases.items() if (t := _timed(raw)) > 2.0}
    assert not slow, f"classify took over two seconds on: {slow}"


def test_bad_charsets_and_encodings_still_classify() -> None:
    raw = (
        b"From: Mail Delivery System <MAILER-DAEMON@x.example>\n"
        b"Subject: =?no-such-charset?q?Undelivered?=\n"
        b"Content-Type: text/plain; charset=no-such-charset\n"
        b"Content-Transfer-Encoding: base64\n\n"
        b"not base64 at all!!! \xff\xfe <bob@y.example>: 550 5.1.1 user unknown\n"
    )
    _valid(classify(raw))
    plain = raw.replace(b"Content-Transfer-Encoding: base64\n", b"")
    verdict = classify(plain)
    assert (verdict.kind, verdict.status, verdict.recipient) == ("bounce", "5.1.1", "bob@y.example")
