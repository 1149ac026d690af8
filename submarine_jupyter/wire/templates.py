"""Experiment templates, as Submarine defines them: a spec with ``{{name}}`` placeholders
and parameters, submitted with values through ``POST /api/v1/experiment/{templateName}``.

A template's parameters are its own plus, per role, the ones Submarine adds:
``spec.<Role>.replicas``, ``spec.<Role>.resourceMap.cpu`` and ``spec.<Role>.resourceMap.memory``.
A parameter fills ``{{name}}`` in string values of the spec; one named by a path
(``meta.cmd``, or ``meta.cmd:name`` for one placeholder at that path) sets that value.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import Field, WithJsonSchema, field_validator

from .base import Request, Response
from .requests import ENV_NAME, ENV_NAME_RULE

PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}")


#: A parameter's value as Submarine's JSON gives it (``0.1``, ``"0.1"``, ``true``), kept as text.
ParamValue = str | int | float | bool


def as_text(value: ParamValue) -> str:
    """A parameter value as the text it fills in (``true``/``false`` for booleans, as JSON writes them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class TemplateParam(Request):
    """A parameter of a template: its default ``value``; ``required`` ones must be given."""

    name: str = Field(min_length=1, max_length=256)
    value: ParamValue | None = None
    required: bool | str = Field(False, description="true (or Submarine's \"true\"): a submission must give it.")
    description: str | None = None

    @field_validator("value")
    @classmethod
    def _text(cls, value: ParamValue | None) -> str | None:
        return None if value is None else as_text(value)

    @property
    def is_required(self) -> bool:
        return self.required is True or (isinstance(self.required, str) and self.required.lower() == "true")


class _TemplateBody(Request):
    name: str | None = Field(None, json_schema_extra={"pattern": ENV_NAME.pattern})
    author: str | None = None
    description: str | None = None
    parameters: list[TemplateParam] = Field(default_factory=list)
    experiment_spec: dict[str, Any] = Field(
        description="An ExperimentSpec whose string values may hold {{name}} placeholders.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not ENV_NAME.match(value):
            raise ValueError(f"'{value}' is not a valid template name: {ENV_NAME_RULE}")
        return value


class TemplateSpec(_TemplateBody):
    """The body of ``POST /api/v1/template`` (Submarine's ExperimentTemplateSpec)."""

    name: str = Field(json_schema_extra={"pattern": ENV_NAME.pattern})


class TemplateUpdate(_TemplateBody):
    """The body of ``PATCH /api/v1/template/{name}``: a TemplateSpec whose ``name`` may be
    left out (it is the one in the path, and cannot change)."""


class TemplateSubmit(Request):
    """The body of ``POST /api/v1/experiment/{templateName}``: values of the template's parameters."""

    params: dict[str, ParamValue] = Field(default_factory=dict)

    @field_validator("params")
    @classmethod
    def _text(cls, value: dict[str, ParamValue]) -> dict[str, str]:
        return {name: as_text(given) for name, given in value.items()}




#: A stored template's spec: what was sent, its parameters including those Submarine adds.
TemplateEcho = Annotated[dict[str, Any], WithJsonSchema({"x-request-model": "TemplateSpec"})]


class Template(Response):
    """A stored template: ``experimentTemplate_<serverStartMillis>_<seq>`` and its spec, whose
    ``parameters`` include those Submarine adds per role."""

    experiment_template_id: str
    experiment_template_spec: TemplateEcho
