"""The Fleet page's decisions: a mailbox as a row, and which rows a query shows in which order.

Pure functions over the objects the console's informers hold, called by the Fleet and Mailbox views
and by bench/console.py. The row cells are potctl's (potctl.kube_views.mailbox_row), so the page and
`potctl status` always agree; the typed fields beside them exist for sorting and filtering.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pot_common.api.base import Condition
from pot_common.api.mailbox import MailboxStatus
from potctl.kube_views import mailbox_row, name_of, parse_status

PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
STATES = ("Pending", "Warming", "Active", "Cooling", "Paused", "Failed")
# Health bands a person filters by (score 0-100); "unknown" is a mailbox with no score yet.
HEALTH_BANDS: dict[str, tuple[int, int]] = {"good": (90, 100), "watch": (70, 89), "poor": (0, 69)}
SORT_KEYS = (
    "namespace",
    "name",
    "address",
    "pool",
    "state",
    "warmup_day",
    "cap",
    "sent",
    "health",
    "cooldown",
)


def condition(conditions: list[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)


def cooldown_reason(status: MailboxStatus | None) -> str:
    """Why a mailbox cools down: the operator's Healthy=False reason while it is Cooling, else ""."""
    if status is None or status.state != "Cooling":
        return ""
    healthy = condition(status.conditions, "Healthy")
    if healthy is not None and healthy.status == "False":
        return healthy.reason
    return "CoolingDown"


@dataclass(frozen=True)
class MailboxRow:
    """One Mailbox as the Fleet table shows it: potctl's cells plus typed fields to sort and filter by."""

    namespace: str
    name: str
    address: str
    pool: str
    state: str
    warmup_day: int | None
    cap: int | None
    sent: int | None
    health: int | None
    cooldown: str
    paused: bool
    cells: tuple[
        str, ...
    ]  # potctl status's row: NAME ADDRESS STATE WARMUP DAY CAP SENT TODAY HEALTH READY PAUSED

    @property
    def key(self) -> tuple[str, str]:
        return self.namespace, self.name


def mailbox_entry(obj: Mapping[str, Any]) -> MailboxRow:
    """A Mailbox object as a row; an unreadable status gives a row of `-` with the state saying so."""
    as_dict = dict(obj)
    namespace, name = name_of(as_dict)
    spec = as_dict.get("spec") or {}
    status = parse_status(MailboxStatus, as_dict)
    cells = mailbox_row(as_dict)
    return MailboxRow(
        namespace=namespace,
        name=name,
        address=str(spec.get("address") or ""),
        pool=(status.pool or "") if status else "",
        state=(status.state or "") if status else "",
        warmup_day=status.warmup_day if status else None,
        cap=status.cap_today if status else None,
        sent=status.sent_today if status else None,
        health=status.health_score if status else None,
        cooldown=cooldown_reason(status),
        paused=cells[-1] != "no",
        cells=cells,
    )


@dataclass(frozen=True)
class FleetQuery:
    """What a person asked the Fleet table for: filters, order and page (from the URL's query string)."""

    namespace: str = ""
    pool: str = ""
    state: str = ""
    health: str = ""  # a HEALTH_BANDS key, "unknown", or "" for any
    cooldown: str = ""  # a cooldown reason, "any" for every cooling mailbox, or "" for no filter
    warmup_min: int | None = None
    warmup_max: int | None = None
    search: str = ""  # a part of the name or the address
    sort: str = "name"
    descending: bool = False
    page: int = 1
    per_page: int = DEFAULT_PAGE_SIZE

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> FleetQuery:
        """Parse query parameters; anything malformed falls back to its default rather than failing."""

        def number(key: str) -> int | None:
            try:
                return int(params.get(key, "").strip())
            except ValueError:
                return None

        sort = params.get("sort", "name")
        per_page = number("per_page") or DEFAULT_PAGE_SIZE
        state = params.get("state", "")
        health = params.get("health", "")
        return cls(
            namespace=params.get("namespace", "").strip(),
            pool=params.get("pool", "").strip(),
            state=state if state in STATES else "",
            health=health if health in (*HEALTH_BANDS, "unknown") else "",
            cooldown=params.get("cooldown", "").strip(),
            warmup_min=number("warmup_min"),
            warmup_max=number("warmup_max"),
            search=params.get("q", "").strip()[:253],
            sort=sort if sort in SORT_KEYS else "name",
            descending=params.get("order") == "desc",
            page=max(1, number("page") or 1),
            per_page=per_page if per_page in PAGE_SIZES else DEFAULT_PAGE_SIZE,
        )

    def params(self, **changes: Any) -> dict[str, str]:
        """This query as URL parameters (defaults left out), with `changes` applied: for links."""
        values = {
            "namespace": self.namespace,
            "pool": self.pool,
            "state": self.state,
            "health": self.health,
            "cooldown": self.cooldown,
            "warmup_min": "" if self.warmup_min is None else str(self.warmup_min),
            "warmup_max": "" if self.warmup_max is None else str(self.warmup_max),
            "q": self.search,
            "sort": "" if self.sort == "name" else self.sort,
            "order": "desc" if self.descending else "",
            "page": "" if self.page == 1 else str(self.page),
            "per_page": "" if self.per_page == DEFAULT_PAGE_SIZE else str(self.per_page),
        }
        values.update({k: "" if v is None else str(v) for k, v in changes.items()})
        return {k: v for k, v in values.items() if v}


def matches(row: MailboxRow, q: FleetQuery) -> bool:
    if q.namespace and row.namespace != q.namespace:
        return False
    if q.pool and row.pool != q.pool:
        return False
    if q.state and row.state != q.state:
        return False
    if q.health:
        if q.health == "unknown":
            if row.health is not None:
                return False
        else:
            low, high = HEALTH_BANDS[q.health]
            if row.health is None or not low <= row.health <= high:
                return False
    if q.cooldown and not (row.cooldown if q.cooldown == "any" else row.cooldown == q.cooldown):
        return False
    if q.warmup_min is not None and (row.warmup_day is None or row.warmup_day < q.warmup_min):
        return False
    if q.warmup_max is not None and (row.warmup_day is None or row.warmup_day > q.warmup_max):
        return False
    needle = q.search.lower()
    return not needle or needle in row.name.lower() or needle in row.address.lower()


def _sort_value(row: MailboxRow, key: str) -> Any:
    # Every SORT_KEYS entry is a MailboxRow field of the same name.
    return getattr(row, key)


@dataclass(frozen=True)
class Page:
    """One page of the filtered, sorted rows and where it sits among them."""

    rows: list[MailboxRow]
    total: int  # rows matching the filters
    fleet: int  # rows before filtering
    page: int
    pages: int
    facets: dict[str, list[str]] = field(default_factory=dict)


def select(rows: Iterable[MailboxRow], q: FleetQuery) -> Page:
    """Filter, sort (unknown values last, whatever the direction; then by namespace and name) and page."""
    every = list(rows)
    chosen = [r for r in every if matches(r, q)]
    known = [r for r in chosen if _sort_value(r, q.sort) not in (None, "")]
    unknown = [r for r in chosen if _sort_value(r, q.sort) in (None, "")]
    known.sort(key=lambda r: (_sort_value(r, q.sort), r.key), reverse=q.descending)
    unknown.sort(key=lambda r: r.key)
    ordered = known + unknown
    pages = max(1, math.ceil(len(ordered) / q.per_page))
    page = min(q.page, pages)
    start = (page - 1) * q.per_page
    return Page(
        rows=ordered[start : start + q.per_page],
        total=len(ordered),
        fleet=len(every),
        page=page,
        pages=pages,
        # Only the chosen namespace's values: a person scoped to it learns nothing of the others.
        facets=facets([r for r in every if not q.namespace or r.namespace == q.namespace]),
    )


def facets(rows: list[MailboxRow]) -> dict[str, list[str]]:
    """The values the filters offer: namespaces, pools and cooldown reasons present in the fleet."""
    return {
        "namespace": sorted({r.namespace for r in rows}),
        "pool": sorted({r.pool for r in rows if r.pool}),
        "cooldown": sorted({r.cooldown for r in rows if r.cooldown}),
    }
