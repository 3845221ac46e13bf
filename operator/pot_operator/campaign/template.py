"""Whether a Campaign's template can be rendered for its recipients, checked before any job exists.

Called by the campaign controller's plan step (pure: no I/O) with the columns of the recipient list
it is about to load. A placeholder that is neither a column, a `template.variables` entry nor a
sender variable (pot_common.templates) would fail every message: the campaign is held with
`TemplateValid=False` naming them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from pot_common.api.campaign import CampaignSpec
from pot_common.templates import TemplateError, unknown_names

CONDITION = "TemplateValid"


@dataclasses.dataclass(frozen=True)
class TemplateCheck:
    ok: bool
    reason: str
    message: str


def check_template(spec: CampaignSpec, columns: Iterable[str] | None) -> TemplateCheck:
    """The TemplateValid verdict; `columns` None (a list already in Postgres) checks the syntax only."""
    template = spec.template
    sources = [(template.subject, False), (template.text or "", False)]
    if template.html:
        sources.append((template.html, True))
    known = set(template.variables) | set(columns or ())
    try:
        missing = unknown_names(sources, known)
    except TemplateError as exc:
        return TemplateCheck(False, "TemplateSyntaxError", str(exc)[:1000])
    if columns is not None and missing:
        names = ", ".join(missing[:20])
        return TemplateCheck(
            False,
            "UnknownPlaceholders",
            f"Placeholders with no value: {names}. Add them as CSV columns or spec.template.variables, "
            'or give them a fallback ({{ name | default("...") }})',
        )
    return TemplateCheck(True, "Valid", "Every placeholder has a value")
