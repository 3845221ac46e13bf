"""The worker's view of message rendering, which lives in pot_common.message so potctl preview shares it.

Imported by the planner (every job) and the catalog (a campaign's Template).
"""

from __future__ import annotations

from pot_common.message import (
    WIRE_POLICY,
    InvalidRecipient,
    Sender,
    Template,
    WirePolicy,
    build_message,
    header_safe,
    message_bytes,
    message_id,
    new_boundary,
    parse_recipient,
    render,
    render_message,
    render_parts,
    template_from_row,
    text_part,
)
from pot_common.templates import TemplateError

__all__ = [
    "WIRE_POLICY",
    "InvalidRecipient",
    "Sender",
    "Template",
    "TemplateError",
    "WirePolicy",
    "build_message",
    "header_safe",
    "message_bytes",
    "message_id",
    "new_boundary",
    "parse_recipient",
    "render",
    "render_message",
    "render_parts",
    "template_from_row",
    "text_part",
]
