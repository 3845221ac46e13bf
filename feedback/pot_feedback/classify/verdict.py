"""The Verdict, what one inbox message says about an earlier send; read by the ingester and potctl."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["bounce", "complaint", "auto-reply", "reply", "unknown"]


@dataclass(frozen=True)
class Verdict:
    """One classified message.

    `status` is an enhanced status code ("5.1.1") when the message gives one; `hard` is a permanent
    failure (a full mailbox is not); `reason` is one word; `recipient` the failed, complaining or
    replying address in lower case; `references` the Message-IDs the message points back to
    (In-Reply-To, References, then the returned original's Message-ID), each in "<...>" form.
    """

    kind: Kind
    status: str | None
    hard: bool
    reason: str
    recipient: str | None
    references: tuple[str, ...] = ()
    unsubscribe: bool = False

    def to_json(self, file: str) -> dict[str, Any]:
        """The `potctl classify-message --output json` object for this verdict of `file`."""
        return {
            "file": file,
            "kind": self.kind,
            "status": self.status,
            "hard": self.hard,
            "reason": self.reason,
            "recipient": self.recipient,
        }


UNKNOWN = Verdict(kind="unknown", status=None, hard=False, reason="unknown", recipient=None)
