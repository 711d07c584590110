"""Request bodies. Strict: unknown fields are rejected (no mass assignment), no type coercion."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

from promptstage.api.inputs import check_json


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any) -> Any:
        check_json(data)
        return data


class ProjectIn(Body):
    name: str = Field(
        description="Project name: 1-63 lowercase letters, digits or '-'", examples=["clinic"]
    )
    description: str | None = None


class VersionIn(Body):
    # Checked by the domain against the prompt's type (a pydantic union would name its members
    # in the error location, e.g. "template.str", instead of the field).
    template: Annotated[
        Any,
        WithJsonSchema(
            {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]}
        ),
    ] = Field(
        description="A string (text prompts) or a list of {role, content} messages (chat prompts)"
    )
    variables: list[Any] | None = Field(
        default=None,
        description="Declared inputs [{name, type?, required?}]; omitted: every placeholder, required",
    )
    config: dict[str, Any] = Field(
        description="Dependency snapshot: model {provider, name, version}, params, tools, retrieval, postprocess, metadata"
    )
    message: str | None = Field(default=None, description="Commit message")


class PromptIn(Body):
    name: str = Field(description="Prompt name; dots group prompts", examples=["booking.system"])
    type: Literal["text", "chat"]
    description: str | None = None
    tags: list[str] | None = None
    version: VersionIn | None = Field(
        default=None,
        description="The first version, written in the same transaction: both or neither",
    )


class PromptPatchIn(Body):
    description: str | None = Field(default=None, description="New description")
    tags: list[str] | None = Field(default=None, description="New tags (replace the old ones)")


class OverrideGateIn(Body):
    reason: str = Field(
        description="Why the evaluation gate is overridden (admins only; audited as gate.override)"
    )


class LabelMoveIn(Body):
    version: int = Field(ge=1)
    expected_version: int | None = Field(
        default=None,
        ge=1,
        description="Compare-and-set: the version the label must point at now (null: must not exist yet)",
    )
    reason: str | None = None
    override_gate: OverrideGateIn | None = Field(
        default=None,
        description="Break-glass: promote although the evaluation gate refuses (admin role)",
    )


class RollbackIn(Body):
    to_version: int | None = Field(default=None, ge=1)
    reason: str | None = None


class KeyIn(Body):
    name: str | None = None
    role: Literal["runtime", "editor", "releaser", "admin"]
    principal: str | None = Field(
        default=None,
        description="The person or service account the key is issued to (create it first); "
        "omitted: the key gets a principal of its own named key:<prefix>",
        examples=["alice"],
    )
    expires_at: str | None = Field(
        default=None,
        description="When the key stops working (ISO-8601 with a time zone); the project's "
        "max_key_lifetime_days bounds it for people",
        examples=["2026-06-30T00:00:00Z"],
    )


class PrincipalIn(Body):
    name: str = Field(description="a-z, 0-9, '.', '_', '-'", examples=["alice"])
    kind: Literal["person", "service"] = Field(
        description="A person may approve others' changes; a service account never may"
    )


class RotateIn(Body):
    grace_seconds: int | None = Field(
        default=None,
        description="How long the old key keeps working (default 3600; 0 revokes it at once)",
    )
    expires_at: str | None = Field(
        default=None,
        description="The successor's expiry (default: the old key's lifetime again)",
    )


class UserIn(Body):
    name: str = Field(
        description="The person's principal name: a-z, 0-9, '.', '_', '-'", examples=["erin"]
    )
    role: Literal["editor", "releaser", "admin"] = Field(
        description="Her role in this project ('runtime' is for SDK keys: nobody signs in with it)"
    )
    password: str | None = Field(
        default=None,
        description="Her password (at least 12 characters); required unless she has one "
        "already (from another project), in which case it must be left out",
    )


class UserRoleIn(Body):
    role: Literal["editor", "releaser", "admin"]


class PasswordIn(Body):
    password: str = Field(description="The new password (at least 12 characters)")
