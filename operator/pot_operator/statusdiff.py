"""Status diffing so the operator writes to the API only when something changed; used by every controller."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def status_patch(current: Mapping[str, Any] | None, desired: Mapping[str, Any]) -> dict[str, Any] | None:
    """The JSON merge patch that turns `current` into `desired` for the keys `desired` owns, or None.

    Nested mappings are diffed key by key so an unchanged sub-object is not rewritten; a key whose
    desired value is None is removed (merge-patch null); lists are replaced whole (conditions).
    """
    current = current or {}
    patch: dict[str, Any] = {}
    for key, want in desired.items():
        have = current.get(key)
        if want is None:
            if have is not None:
                patch[key] = None
        elif isinstance(want, Mapping) and isinstance(have, Mapping):
            sub = status_patch(have, want)
            if sub is not None:
                patch[key] = sub
        elif have != want:
            patch[key] = _strip_nones(want)
    return patch or None


def _strip_nones(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _strip_nones(v) for k, v in value.items() if v is not None}
    return value
