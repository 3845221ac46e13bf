"""What POT knows of the big mailbox providers: their IMAP servers and OAuth2 token endpoints.

Pure; the operator resolves a Mailbox's inbox endpoint with `imap_endpoint` before it writes the
mailbox's row, and the worker and the ingester find a provider's token endpoint with `token_url`.
"""

from __future__ import annotations

from dataclasses import dataclass

# SMTP submission host → IMAP host, for providers whose hosts every customer shares.
_IMAP_BY_SMTP = {
    "smtp.gmail.com": "imap.gmail.com",
    "smtp.googlemail.com": "imap.gmail.com",
    "smtp.office365.com": "outlook.office365.com",
    "smtp-mail.outlook.com": "outlook.office365.com",
}

GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"  # noqa: S105 (an address, not a secret)
MICROSOFT_TOKEN_URL = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"  # noqa: S105
MICROSOFT_DEFAULT_TENANT = "organizations"
# What each provider's refresh token must grant for SMTP submission and IMAP.
SCOPES = {
    "google": "https://mail.google.com/",
    "microsoft": (
        "https://outlook.office.com/SMTP.Send https://outlook.office.com/IMAP.AccessAsUser.All offline_access"
    ),
}


@dataclass(frozen=True)
class ImapTarget:
    host: str
    port: int
    tls: str  # 'implicit', 'starttls' or 'none'


def imap_host_for(smtp_host: str) -> str | None:
    """The IMAP host of a known provider, by its SMTP host; None when POT does not know it."""
    return _IMAP_BY_SMTP.get(smtp_host.rstrip(".").lower())


def imap_endpoint(host: str | None, port: int, tls: str, smtp_host: str) -> ImapTarget | None:
    """The inbox to read: the spec's host, else the provider's; None when neither is known."""
    resolved = host or imap_host_for(smtp_host)
    return ImapTarget(resolved, port, tls) if resolved else None


def token_url(provider: str, override: str | None, tenant: str | None = None) -> str:
    """The token endpoint for a provider (`google`, `microsoft`, `custom`); `override` wins."""
    if override:
        return override
    if provider == "google":
        return GOOGLE_TOKEN_URL
    if provider == "microsoft":
        return MICROSOFT_TOKEN_URL.format(tenant=tenant or MICROSOFT_DEFAULT_TENANT)
    raise ValueError(f"provider {provider!r} needs oauth2.tokenUrl")
