"""Shared building blocks of POT's CRD types (base model, conditions, refs); used by the kind modules."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import email_validator
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic.alias_generators import to_camel

GROUP = "pot.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

# Kubernetes object names (DNS-1123 subdomain), as the apiserver checks them for ConfigMaps and Secrets.
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
# A Vault path relative to the namespace's folder (`<POT_VAULT_TENANT_PREFIX>/<namespace>/`): segments
# of safe characters, no leading slash, and no segment starting with a dot, so `.` and `..` cannot
# climb out of it. pot_common.vault.tenant_path applies the same rule before any read.
VAULT_PATH_SEGMENT = r"[A-Za-z0-9_-][A-Za-z0-9_.-]*"
VAULT_PATH_PATTERN = rf"^{VAULT_PATH_SEGMENT}(/{VAULT_PATH_SEGMENT})*$"
BASIS_POINTS_DOC = "in basis points (1/100 of a percent: 100 = 1 %, 10000 = 100 %)"


class ApiModel(BaseModel):
    """Base of every CRD type: snake_case in Python, camelCase on the wire.

    The operator parses specs the apiserver already validated and pruned, so unknown keys are ignored
    rather than fatal: a newer CRD with an extra field must not crash an older operator.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        serialize_by_alias=True,
        extra="ignore",
    )


def cel(rule: str, message: str, field_path: str | None = None) -> dict[str, str]:
    """One `x-kubernetes-validations` entry; the message names the field because users read only that."""
    entry = {"rule": rule, "message": message}
    if field_path is not None:
        entry["fieldPath"] = field_path
    return entry


def validations(*rules: dict[str, str]) -> dict[str, Any]:
    """json_schema_extra that attaches CEL rules to a model or field."""
    return {"x-kubernetes-validations": list(rules)}


def _check_email(value: str) -> str:
    # test_environment admits the `.test` domains the local stack serves; the address is kept as
    # written (not normalised) so the spec and what the operator sees stay byte-identical.
    email_validator.validate_email(value, check_deliverability=False, test_environment=True)
    return value


EmailAddress = Annotated[
    str,
    AfterValidator(_check_email),
    WithJsonSchema({"type": "string", "format": "email", "minLength": 3, "maxLength": 254}),
]

ResourceName = Annotated[str, Field(min_length=1, max_length=253, pattern=NAME_PATTERN)]
VaultPath = Annotated[str, Field(min_length=1, max_length=512, pattern=VAULT_PATH_PATTERN)]
BasisPoints = Annotated[int, Field(ge=0, le=10000)]
Count = Annotated[int, Field(ge=0)]


def immutable(field: str) -> dict[str, Any]:
    """json_schema_extra making a field immutable once set (a CEL transition rule)."""
    return validations(cel("self == oldSelf", f"{field} is immutable"))


class Condition(ApiModel):
    """One aspect of the object's observed state, as the Kubernetes API conventions define conditions."""

    type: str = Field(
        min_length=1,
        max_length=316,
        pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
        description="Condition type in CamelCase; `Ready` summarises the object.",
    )
    status: Literal["True", "False", "Unknown"] = Field(description="Whether the condition holds.")
    reason: str = Field(
        min_length=1,
        max_length=1024,
        pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
        description="Machine-readable CamelCase reason for the last transition.",
    )
    message: str = Field(default="", max_length=32768, description="Human-readable details.")
    last_transition_time: datetime = Field(
        description="When the status last changed (RFC 3339).",
    )
    observed_generation: int | None = Field(
        default=None,
        ge=0,
        description="The metadata.generation this condition was computed from.",
    )


def conditions_field() -> Any:
    """The `status.conditions` field every kind carries: a list keyed by type, per API conventions."""
    return Field(
        default_factory=list,
        max_length=32,
        description="Current conditions, one per type; `Ready` is the summary.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )


def observed_generation_field() -> Any:
    """The `status.observedGeneration` field: which spec generation the status describes."""
    return Field(
        default=None,
        ge=0,
        description="The metadata.generation the operator last reconciled into this status.",
    )
