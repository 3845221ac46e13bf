"""pot_unsubscribe.parsing: which tenant a token claims, the one-click body in both encodings, the client."""

from __future__ import annotations

import base64
import ipaddress

import pytest
from pot_common.unsubscribe import make_token
from pot_unsubscribe.parsing import MAX_TOKEN_CHARS, BadRequest, claimed_tenant, client_address, one_click

KEY = b"k" * 32


def test_a_token_claims_its_tenant() -> None:
    assert claimed_tenant(make_token(KEY, "acme", "spring", "Bob@Example.com")) == "acme"


def _forged(payload: bytes) -> str:
    return base64.urlsafe_b64encode(payload).rstrip(b"=").decode() + "." + "A" * 43


@pytest.mark.parametrize(
    "token",
    [
        "",
        "no-dot",
        "a.b",  # far too short a MAC
        _forged(b"../other\x00c\x00a@b.test"),  # a path, not a namespace
        _forged(b"Acme\x00c\x00a@b.test"),  # namespaces are lower-case
        _forged(b"acme\x00a@b.test"),  # two fields
        _forged(b"\xff\xfe\x00c\x00a@b.test"),  # not UTF-8
        _forged(b"a" * 64 + b"\x00c\x00a@b.test"),  # longer than a namespace
        "x" * (MAX_TOKEN_CHARS + 1),
        make_token(KEY, "acme", "c", "a@b.test") + "%00",
        "é" + make_token(KEY, "acme", "c", "a@b.test"),
    ],
)
def test_what_cannot_be_a_token_claims_no_tenant(token: str) -> None:
    assert claimed_tenant(token) is None


@pytest.mark.parametrize(
    ("content_type", "body", "wanted"),
    [
        ("application/x-www-form-urlencoded", b"List-Unsubscribe=One-Click", True),
        ("application/x-www-form-urlencoded; charset=utf-8", b"a=1&List-Unsubscribe=One-Click", True),
        ("application/x-www-form-urlencoded", b"list-unsubscribe=one-click", True),
        ("application/x-www-form-urlencoded", b"List-Unsubscribe=Later", False),
        ("application/x-www-form-urlencoded", b"", False),
        ("", b"List-Unsubscribe=One-Click", True),  # some clients send no type
        ("", b"", False),
    ],
)
def test_form_encoded_one_click(content_type: str, body: bytes, wanted: bool) -> None:
    assert one_click(content_type, body) is wanted


def multipart(fields: dict[str, str], boundary: str = "XyZ") -> tuple[str, bytes]:
    parts = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
        for k, v in fields.items()
    )
    return f"multipart/form-data; boundary={boundary}", f"{parts}--{boundary}--\r\n".encode()


def test_multipart_one_click() -> None:
    assert one_click(*multipart({"List-Unsubscribe": "One-Click"})) is True
    assert one_click(*multipart({"other": "x", "List-Unsubscribe": "One-Click"})) is True
    assert one_click(*multipart({"List-Unsubscribe": "Nope"})) is False


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", b"List-Unsubscribe=One-Click\xff"),
        ("application/x-www-form-urlencoded", b"\xc3("),
        ("application/json", b'{"List-Unsubscribe": "One-Click"}'),
        ("text/plain", b"List-Unsubscribe=One-Click"),
        ("multipart/form-data; boundary=XyZ", b"garbage without parts"),
        ("multipart/form-data", b"--XyZ\r\n\r\n"),
        (
            "multipart/form-data; boundary=XyZ",
            b'--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\n\xff\r\n--XyZ--\r\n',
        ),
    ],
)
def test_anything_else_is_a_bad_request(content_type: str, body: bytes) -> None:
    with pytest.raises(BadRequest):
        one_click(content_type, body)


PROXIES = (ipaddress.ip_network("10.0.0.0/8"),)


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "client"),
    [
        ("203.0.113.9", None, PROXIES, "203.0.113.9"),
        # Not configured: X-Forwarded-For is never believed.
        ("10.0.0.5", "198.51.100.7", (), "10.0.0.5"),
        # From a stranger: its header is made up.
        ("203.0.113.9", "198.51.100.7", PROXIES, "203.0.113.9"),
        # From the ingress: the address it saw (the last hop), not what the client wrote before it.
        ("10.0.0.5", "1.2.3.4, 198.51.100.7", PROXIES, "198.51.100.7"),
        # Two proxies of ours in a row.
        ("10.0.0.5", "198.51.100.7, 10.1.1.1", PROXIES, "198.51.100.7"),
        # A hop that is no address: count the proxy.
        ("10.0.0.5", "nonsense", PROXIES, "10.0.0.5"),
        (None, None, (), "unknown"),
    ],
)
def test_the_client_address(
    peer: str | None, forwarded: str | None, trusted: tuple[ipaddress.IPv4Network, ...], client: str
) -> None:
    assert client_address(peer, forwarded, trusted) == client
