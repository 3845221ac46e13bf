"""The CRD generator: crds/ and docs/api.md match the typed source, and the schemas are structural."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pot_common.api import KINDS, MailboxPoolSpec
from pot_common.api.base import ApiModel
from pot_common.api.crd import SchemaError, build_crd, file_name, render, structural_schema
from pot_common.api.generate import crd_files, docs_text, main
from pydantic import Field

REPO = Path(__file__).resolve().parents[3]
CRDS = REPO / "crds"
DOCS = REPO / "docs" / "api.md"
FORBIDDEN = {"$ref", "$defs", "anyOf", "oneOf", "allOf", "not", "nullable", "const", "title", "examples"}


def _root(kind_index: int) -> dict[str, Any]:
    schema: dict[str, Any] = build_crd(KINDS[kind_index])["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def _nodes(node: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from _nodes(child, f"{path}.{name}")
    if "items" in node:
        yield from _nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _nodes(node["additionalProperties"], f"{path}.*")


KIND_IDS = [k.kind for k in KINDS]


def test_crds_directory_matches_the_typed_source() -> None:
    generated = crd_files()
    on_disk = {p.name: p.read_text() for p in CRDS.glob("*.yaml")}
    assert sorted(on_disk) == sorted(generated), "crds/ holds other files than the generator writes"
    for name, text in generated.items():
        assert on_disk[name] == text, f"crds/{name} drifted from pot_common.api; run `make crds`"


def test_docs_field_reference_matches_the_typed_source() -> None:
    current = DOCS.read_text()
    assert docs_text(current) == current, "docs/api.md drifted from pot_common.api; run `make crds`"


def test_check_mode_reports_drift_without_writing(tmp_path: Path) -> None:
    out = tmp_path / "crds"
    docs = tmp_path / "api.md"
    docs.write_text(DOCS.read_text())
    assert main([str(out), "--docs", str(docs)]) == 0
    assert main([str(out), "--docs", str(docs), "--check"]) == 0
    stale = out / file_name(KINDS[0])
    stale.write_text(stale.read_text().replace("mbx", "mb"))
    assert main([str(out), "--docs", str(docs), "--check"]) == 1
    assert "mb\n" in stale.read_text(), "--check must not rewrite the file"


def test_rendering_is_deterministic() -> None:
    assert render(build_crd(KINDS[1])) == render(build_crd(KINDS[1]))
    assert yaml.safe_load(render(build_crd(KINDS[1]))) == build_crd(KINDS[1])


@pytest.mark.parametrize("index", range(len(KINDS)), ids=KIND_IDS)
def test_every_field_has_a_description(index: int) -> None:
    for path, node in _nodes(_root(index), ""):
        if path == ".metadata":  # the apiserver forbids describing metadata
            continue
        assert node.get("description", "").strip() or path.endswith(("[]", ".*")), (
            f"{path} has no description"
        )


@pytest.mark.parametrize("index", range(len(KINDS)), ids=KIND_IDS)
def test_schema_is_structural(index: int) -> None:
    for path, node in _nodes(_root(index), ""):
        assert "type" in node, f"{path} has no type"
        assert not FORBIDDEN & set(node), f"{path} uses {FORBIDDEN & set(node)}"
        assert not ("properties" in node and "additionalProperties" in node), path
        assert node.get("additionalProperties") is not False, f"{path}: additionalProperties: false"
        for key in node.get("required", []):
            assert key in node["properties"], f"{path} requires undeclared {key}"


@pytest.mark.parametrize("index", range(len(KINDS)), ids=KIND_IDS)
def test_status_has_conditions_per_api_conventions(index: int) -> None:
    status = _root(index)["properties"]["status"]
    conditions = status["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    item = conditions["items"]
    assert set(item["properties"]) == {
        "type",
        "status",
        "reason",
        "message",
        "lastTransitionTime",
        "observedGeneration",
    }
    assert set(item["required"]) >= {"type", "status", "reason", "lastTransitionTime"}
    assert item["properties"]["lastTransitionTime"]["format"] == "date-time"
    assert "observedGeneration" in status["properties"]
    assert not [p for p, n in _nodes(status, "status") if "default" in n], "status fields carry no defaults"


@pytest.mark.parametrize("index", range(len(KINDS)), ids=KIND_IDS)
def test_every_cel_rule_names_its_field(index: int) -> None:
    rules = 0
    for path, node in _nodes(_root(index), ""):
        for rule in node.get("x-kubernetes-validations", []):
            rules += 1
            named = rule.get("fieldPath", path).rstrip("]").split(".")[-1] or "metadata.name"
            assert named in rule["message"], f"{path}: {rule['message']!r} does not name {named}"
    assert rules >= 2


@pytest.mark.parametrize("index", range(len(KINDS)), ids=KIND_IDS)
def test_printer_columns_point_at_declared_fields(index: int) -> None:
    version = build_crd(KINDS[index])["spec"]["versions"][0]
    root = version["schema"]["openAPIV3Schema"]
    names = [c["name"] for c in version["additionalPrinterColumns"]]
    assert names[-1] == "Age" and "Ready" in names
    for column in version["additionalPrinterColumns"]:
        path = re.sub(r"\[\?\(@\.type==\"Ready\"\)\]", "[]", column["jsonPath"])
        if path == ".metadata.creationTimestamp":
            continue
        node = root
        for part in path.strip(".").split("."):
            node = node["properties"][part[:-2]]["items"] if part.endswith("[]") else node["properties"][part]
        expected = {"integer": "integer", "string": "string", "boolean": "boolean"}[column["type"]]
        assert node["type"] == expected, column


def test_names_short_names_and_category() -> None:
    short = [s for k in KINDS for s in k.short_names]
    assert len(short) == len(set(short))
    for kind in KINDS:
        names = build_crd(kind)["spec"]["names"]
        assert names["categories"] == ["pot"]
        assert names["plural"] == kind.plural
        assert build_crd(kind)["spec"]["versions"][0]["subresources"] == {"status": {}}


def test_sub_object_defaults_are_the_models_defaults() -> None:
    spec = _root(1)["properties"]["spec"]["properties"]
    selector = {"matchLabels": {"pot.dev/pool": "p"}}
    python_defaults = MailboxPoolSpec.model_validate({"selector": selector}).model_dump(
        mode="json", exclude_none=True
    )
    for name in ("limits", "warmup", "health", "autoPause", "workers"):
        assert spec[name]["default"] == python_defaults[name], name
    assert spec["limits"]["default"]["perInboxPerDay"] == 30
    assert spec["limits"]["default"]["minSpacingSeconds"] == 600
    assert spec["health"]["default"]["complaintRatePauseBasisPoints"] == 30


def test_optional_fields_collapse_to_their_type() -> None:
    mailbox = _root(0)["properties"]["spec"]
    assert mailbox["properties"]["displayName"]["type"] == "string"
    assert "displayName" not in mailbox["required"]
    assert mailbox["properties"]["address"]["format"] == "email"
    assert mailbox["properties"]["warmupStart"]["format"] == "date"


class _Undocumented(ApiModel):
    """A model with a field nobody described."""

    hosts: int = 1


class _Union(ApiModel):
    """A model with a union that has no structural form."""

    port: int | str = Field(description="port or name")


class _FreeForm(ApiModel):
    """A model with a free-form object."""

    extra: dict[str, Any] = Field(description="anything")


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (_Undocumented, "spec.hosts: no description"),
        (_Union, "spec.port: only Optional[X] unions"),
        (_FreeForm, "spec.extra"),
    ],
)
def test_generator_refuses_what_would_not_be_structural(model: type[ApiModel], message: str) -> None:
    with pytest.raises(SchemaError, match=re.escape(message)):
        structural_schema(model, "spec")
