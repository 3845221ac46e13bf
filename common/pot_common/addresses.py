"""The one email-address validator of POT (email-validator plus RFC 5321's length limits).

Used by the address checker, the campaign recipient import, suppression commands and the worker's
envelope. `is_plain_address` is the fast path for the common dot-atom@dot-atom address.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import email_validator

MAX_LOCAL_PART = 64  # RFC 5321 §4.5.3.1.1
MAX_ADDRESS = 254  # RFC 5321 §4.5.3.1.3 path limit (256) minus the angle brackets

# RFC 5322 dot-atom@dot-atom: what nearly every address is, safe on an SMTP command line as written.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM_ADDRESS = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*@{_ATEXT}(?:\.{_ATEXT})*")


@dataclass(frozen=True)
class Syntax:
    ok: bool
    normalized: str = ""
    local: str = ""
    domain: str = ""
    reason: str = ""


def is_plain_address(address: str) -> bool:
    """True for a dot-atom@dot-atom address."""
    return _DOT_ATOM_ADDRESS.fullmatch(address) is not None


def check_syntax(address: str, *, allow_test_domains: bool = False) -> Syntax:
    """RFC 5322/6531 syntax (email-validator, offline) plus the RFC 5321 length limits."""
    address = address.strip()
    if len(address) > 4 * MAX_ADDRESS:  # no need to parse a megabyte to say it is too long
        return Syntax(False, reason=f"address longer than {MAX_ADDRESS} octets (RFC 5321)")
    try:
        valid = email_validator.validate_email(
            address, check_deliverability=False, test_environment=allow_test_domains
        )
    except email_validator.EmailNotValidError as exc:
        return Syntax(False, reason=f"bad syntax: {exc}")
    local, domain = valid.local_part, valid.ascii_domain
    if len(local.encode()) > MAX_LOCAL_PART:
        return Syntax(False, reason=f"local part longer than {MAX_LOCAL_PART} octets (RFC 5321)")
    if len(valid.normalized.encode()) > MAX_ADDRESS:
        return Syntax(False, reason=f"address longer than {MAX_ADDRESS} octets (RFC 5321)")
    return Syntax(True, valid.normalized, local, domain.lower())
