"""The one loader of POT's SQL files: each package keeps its queries in `.sql` files beside its code."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def load_sql(package: str, name: str, folder: str = "queries") -> str:
    """The text of `<package>/<folder>/<name>.sql`, read once per process."""
    return resources.files(package).joinpath(folder, f"{name}.sql").read_text(encoding="utf-8")
