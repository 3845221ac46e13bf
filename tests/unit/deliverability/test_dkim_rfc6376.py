"""RFC 6376, rule by rule: the tag-list syntax (§3.2) and the key record's tags (§3.6.1), with RFC 8463
(Ed25519) and RFC 8301 (key sizes, no sha1)."""

from __future__ import annotations

import base64
import functools
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pot_deliverability import dkim
from pot_deliverability.dkim import DkimParseError, parse_key_record, parse_tags


@functools.cache
def rsa_key(bits: int = 2048) -> str:
    public = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key()
    return base64.b64encode(public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).decode()


@functools.cache
def ed_key() -> str:
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    return base64.b64encode(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


# --- §3.2 tag-list ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tags"),
    [
        ("a=1; b=2", {"a": "1", "b": "2"}),
        ("a=1; b=2;", {"a": "1", "b": "2"}),  # one final ";" is allowed
        ("  a =  1 ;\tb\t=2 ", {"a": "1", "b": "2"}),  # FWS around names, "=" and values is no part of them
        ("a=1\r\n 2", {"a": "1\r\n 2"}),  # folding white space inside a value is kept
        ("a=x y", {"a": "x y"}),  # so is white space between tvals
        ("a=", {"a": ""}),  # a value may be empty
        ("a_1=x", {"a_1": "x"}),  # tag-name = ALPHA *ALNUMPUNC
        ("A=1; a=2", {"A": "1", "a": "2"}),  # names are case-sensitive: two tags
        ("a=b=c", {"a": "b=c"}),  # "=" is a VALCHAR
    ],
)
def test_3_2_tag_lists_that_parse(text: str, tags: dict[str, str]) -> None:
    assert parse_tags(text) == tags


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("a=1; a=2", "twice"),  # a name twice makes the whole list invalid
        ("a=1;; b=2", "empty tag"),  # no empty tag-spec
        ("a", "without '='"),
        ("1a=x", "not a tag name"),
        ("a-b=x", "not a tag name"),
        ("=x", "not a tag name"),
        ("a=\x00", "no tag value may"),  # control characters are no VALCHAR
        ("a=caf\u00e9", "no tag value may"),  # nor is anything beyond ASCII
    ],
)
def test_3_2_tag_lists_that_do_not(text: str, why: str) -> None:
    with pytest.raises(DkimParseError, match=why):
        parse_tags(text)


# --- §3.6.1 the key record ----------------------------------------------------------------------------


def test_3_6_1_an_rsa_key_with_every_default() -> None:
    key = parse_key_record(f"p={rsa_key()}")
    assert (key.key_type, key.bits, key.revoked, key.testing, key.strict) == (
        "rsa",
        2048,
        False,
        False,
        False,
    )
    assert key.hashes == ("sha1", "sha256")


def test_3_6_1_v_if_present_is_first_and_DKIM1() -> None:
    assert parse_key_record(f"v=DKIM1; p={rsa_key()}").bits == 2048
    with pytest.raises(DkimParseError, match="first tag"):
        parse_key_record(f"p={rsa_key()}; v=DKIM1")
    for version in ("DKIM2", "dkim1", ""):
        with pytest.raises(DkimParseError, match="not DKIM1"):
            parse_key_record(f"v={version}; p={rsa_key()}")


def test_3_6_1_p_is_required_and_empty_means_revoked() -> None:
    with pytest.raises(DkimParseError, match="no p="):
        parse_key_record("v=DKIM1; k=rsa")
    assert parse_key_record("v=DKIM1; p=").revoked


def test_3_6_1_p_is_base64_with_white_space_allowed_inside() -> None:
    key = rsa_key()
    folded = " ".join(key[i : i + 60] for i in range(0, len(key), 60))
    assert parse_key_record(f"v=DKIM1; p={folded}").bits == 2048
    assert parse_key_record(f"v=DKIM1; p={key[:100]}\r\n\t{key[100:]}").bits == 2048
    for bad in ("!!!", "AAAA=A", "AAA==="):
        with pytest.raises(DkimParseError, match="base64"):
            parse_key_record(f"v=DKIM1; p={bad}")


def test_3_6_1_p_must_hold_a_key_of_the_k_type() -> None:
    with pytest.raises(DkimParseError, match="DER"):
        parse_key_record("v=DKIM1; p=AAAA")
    ec_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    der = base64.b64encode(ec_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).decode()
    with pytest.raises(DkimParseError, match="another kind of key"):
        parse_key_record(f"v=DKIM1; k=rsa; p={der}")


def test_3_6_1_unknown_key_types_are_ignored_so_the_key_is_unusable() -> None:
    with pytest.raises(DkimParseError, match="unknown key type"):
        parse_key_record(f"v=DKIM1; k=dsa; p={rsa_key()}")


def test_rfc8463_ed25519_keys_are_32_raw_bytes() -> None:
    key = parse_key_record(f"v=DKIM1; k=ed25519; p={ed_key()}")
    assert (key.key_type, key.bits) == ("ed25519", 256)
    with pytest.raises(DkimParseError, match="32 bytes"):
        parse_key_record(f"v=DKIM1; k=ed25519; p={rsa_key()}")


@pytest.mark.parametrize(
    ("h", "hashes"),
    [
        ("sha256", ("sha256",)),
        ("sha1:sha256", ("sha1", "sha256")),
        ("sha256 : sha1", ("sha256", "sha1")),  # FWS around the ":"
        ("SHA256", ("sha256",)),  # the algorithm names are ABNF strings
        ("sha256:sha512", ("sha256",)),  # unrecognised algorithms are ignored
    ],
)
def test_3_6_1_h_lists_the_acceptable_hashes(h: str, hashes: tuple[str, ...]) -> None:
    assert parse_key_record(f"v=DKIM1; h={h}; p={rsa_key()}").hashes == hashes


def test_3_6_1_h_with_no_known_hash_is_unusable() -> None:
    with pytest.raises(DkimParseError, match="no hash"):
        parse_key_record(f"v=DKIM1; h=md5; p={rsa_key()}")


@pytest.mark.parametrize("s", ["*", "email", "email:other", "*:other", "EMAIL"])
def test_3_6_1_s_must_include_email_or_any(s: str) -> None:
    parse_key_record(f"v=DKIM1; s={s}; p={rsa_key()}")


def test_3_6_1_a_key_for_other_services_only_is_not_for_mail() -> None:
    with pytest.raises(DkimParseError, match="not for mail"):
        parse_key_record(f"v=DKIM1; s=other; p={rsa_key()}")


def test_3_6_1_t_flags_and_unknown_flags_ignored() -> None:
    key = parse_key_record(f"v=DKIM1; t=y:s:z; p={rsa_key()}")
    assert (key.testing, key.strict) == (True, True)


def test_3_6_1_unknown_tags_and_notes_are_ignored() -> None:
    key = parse_key_record(f"v=DKIM1; n=a note; x_future=1; p={rsa_key()}")
    assert key.bits == 2048


# --- preflight's grading: RFC 8301 sizes and hashes, revocation, test mode ---------------------------


@pytest.mark.parametrize(
    ("record", "level", "words"),
    [
        (lambda: f"v=DKIM1; p={rsa_key(2048)}", "pass", "2048 bits"),
        (lambda: f"v=DKIM1; p={rsa_key(1024)}", "warn", "1024 bits"),
        (lambda: f"v=DKIM1; p={rsa_key(1024)[:0]}", "fail", "revoked"),
        (lambda: f"v=DKIM1; h=sha1; p={rsa_key(2048)}", "fail", "only sha1"),
        (lambda: f"v=DKIM1; t=y; p={rsa_key(2048)}", "warn", "test mode"),
        (lambda: f"v=DKIM1; k=ed25519; p={ed_key()}", "pass", "ed25519"),
    ],
)
async def test_preflight_grades_the_key(world: Any, record: Any, level: str, words: str) -> None:
    from pot_deliverability.preflight import check_dkim

    check = await check_dkim("example.com", ("pot",), world({"pot._domainkey.example.com TXT": [record()]}))
    assert check.level.value == level and words in check.why, check


async def test_find_key_tries_the_selectors_in_order(world: Any) -> None:
    resolver = world({"s2._domainkey.example.com TXT": [f"v=DKIM1; p={rsa_key()}"]})
    key, where = await dkim.find_key("example.com", ("s1", "s2"), resolver)
    assert key is not None and (key.selector, where) == ("s2", "s2._domainkey.example.com")
    assert await dkim.find_key("example.com", ("s3",), resolver) == (None, "s3._domainkey.example.com")
