"""Typed settings from POT_* environment variables; each program's settings model calls load_settings."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TypeVar

from pydantic import BaseModel

SettingsT = TypeVar("SettingsT", bound=BaseModel)


def load_settings(
    model: type[SettingsT], environ: Mapping[str, str] | None = None, prefix: str = "POT_"
) -> SettingsT:
    """Build `model` from `<prefix><FIELD_NAME>` variables; pydantic parses and validates the strings.

    Unset and empty variables fall back to the model's defaults, so `FOO=` in an env file means "default".
    """
    env = os.environ if environ is None else environ
    values: dict[str, str] = {}
    for field in model.model_fields:
        raw = env.get(prefix + field.upper())
        if raw is not None and raw != "":
            values[field] = raw
    return model.model_validate(values)
