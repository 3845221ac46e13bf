"""Writes crds/*.yaml and the field reference in docs/api.md from the typed source; run by `make crds`.

The spec tables name, for each field, the test that proves it (pot_common.api.field_tests).

    python -m pot_common.api.generate crds [--docs docs/api.md] [--check]

`--check` writes nothing and exits 1 when a file differs from what the source generates.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pot_common.api.crd import build_crd, file_name, render
from pot_common.api.field_tests import tests_of
from pot_common.api.kinds import KINDS, Kind

BEGIN = "<!-- BEGIN GENERATED FIELD REFERENCE (make crds) -->"
END = "<!-- END GENERATED FIELD REFERENCE -->"


def crd_files() -> dict[str, str]:
    """File name under crds/ -> its generated text, for every kind."""
    return {file_name(kind): render(build_crd(kind)) for kind in KINDS}


def _schema(kind: Kind) -> dict[str, Any]:
    schema: dict[str, Any] = build_crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def _is_leaf(schema: dict[str, Any]) -> bool:
    """A field with no fields of its own (an object's or a list item's fields prove it instead)."""
    if schema["type"] == "object":
        return "properties" not in schema
    if schema["type"] == "array":
        return "properties" not in schema["items"]
    return True


def spec_fields(kind: Kind) -> list[str]:
    """Every leaf field of the kind's spec, as the reference tables write its path."""
    spec = _schema(kind)["properties"]["spec"]
    return [path for path, _, _, _, leaf in _rows(spec, "spec") if leaf]


def _tested_by(kind: Kind, path: str) -> str:
    return "<br>".join(f"`{test}`" for test in tests_of(kind.kind, path)) or "none yet"


def _rows(schema: dict[str, Any], path: str) -> Iterator[tuple[str, str, str, str, bool]]:
    for name, child in schema.get("properties", {}).items():
        child_path = f"{path}.{name}"
        kind = child["type"]
        if kind == "array":
            kind = f"[]{child['items']['type']}"
        elif kind == "object" and "additionalProperties" in child:
            kind = f"map[string]{child['additionalProperties']['type']}"
        if "enum" in child:
            kind += " (" + " \\| ".join(str(v) for v in child["enum"]) + ")"
        if "format" in child:
            kind += f" ({child['format']})"
        required = name in schema.get("required", [])
        default = (
            "required" if required else ("`" + _inline(child["default"]) + "`" if "default" in child else "")
        )
        yield child_path, kind, default, " ".join(child["description"].split()), _is_leaf(child)
        if child["type"] == "object" and "properties" in child:
            yield from _rows(child, child_path)
        if child["type"] == "array" and "properties" in child["items"]:
            yield from _rows(child["items"], child_path + "[]")


def _inline(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{}" if not value else "{…}"
    return str(value)


def _rules(schema: dict[str, Any], path: str) -> Iterator[tuple[str, str]]:
    for rule in schema.get("x-kubernetes-validations", []):
        yield path, rule["message"]
    for name, child in schema.get("properties", {}).items():
        yield from _rules(child, f"{path}.{name}")
    if "items" in schema:
        yield from _rules(schema["items"], f"{path}[]")


def kind_reference(kind: Kind) -> str:
    """The Markdown field reference of one kind."""
    root = _schema(kind)
    lines = [
        f"### {kind.kind}",
        "",
        kind.description,
        "",
        f"`kubectl get {kind.plural}` (short: {', '.join(kind.short_names)}; category `pot`).",
        "",
    ]
    for part in ("spec", "status"):
        spec = part == "spec"
        if spec:
            lines += ["| Field | Type | Default | Description | Tested by |", "|---|---|---|---|---|"]
        else:
            lines += ["| Field | Type | Default | Description |", "|---|---|---|---|"]
        for path, typ, default, desc, leaf in _rows(root["properties"][part], part):
            escaped = desc.replace("|", "\\|")
            row = f"| `{path}` | {typ} | {default} | {escaped} |"
            if spec:
                row += f" {_tested_by(kind, path) if leaf else ''} |"
            lines.append(row)
        lines.append("")
    rules = list(_rules(root, "")) if "x-kubernetes-validations" in root else []
    rules += list(_rules(root["properties"]["spec"], "spec"))
    if rules:
        lines += ["Validation rules (CEL):", ""]
        lines += [f"- `{path or 'object'}`: {message}" for path, message in rules]
        lines.append("")
    return "\n".join(lines)


def field_reference() -> str:
    """The generated block of docs/api.md."""
    return "\n".join([BEGIN, "", *(kind_reference(kind) for kind in KINDS), END])


def docs_text(current: str) -> str:
    """docs/api.md with its generated block replaced (the prose around it is written by hand)."""
    if BEGIN not in current or END not in current:
        raise SystemExit(f"docs/api.md needs the markers {BEGIN} and {END}")
    head, rest = current.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return head + field_reference() + tail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("out", type=Path, help="directory for the CRD YAML files (crds)")
    parser.add_argument("--docs", type=Path, default=Path("docs/api.md"), help="field reference to update")
    parser.add_argument("--check", action="store_true", help="report drift instead of writing")
    args = parser.parse_args(argv)

    wanted = {args.out / name: text for name, text in crd_files().items()}
    wanted[args.docs] = docs_text(args.docs.read_text())
    stale = [path for path, text in wanted.items() if not path.exists() or path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"{path} is out of date; run `make crds`", file=sys.stderr)
        return 1 if stale else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for path in stale:
        path.write_text(wanted[path])
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
