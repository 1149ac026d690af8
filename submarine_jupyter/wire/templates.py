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


class TemplateParam(Request):
    """A parameter of a template: its default ``value``; ``required`` ones must be given."""

    name: str = Field(min_length=1, max_length=256)
    value: str | None = None
    required: bool | str = Field(False, description="true (or Submarine's \"true\"): a submission must give it.")
    description: str | None = None

    @property
    def is_required(self) -> bool:
        return self.required is True or (isinstance(self.required, str) and self.required.lower() == "true")


class TemplateSpec(Request):
    """The body of ``POST /api/v1/template`` and ``PATCH /api/v1/template/{name}``."""

    name: str = Field(json_schema_extra={"pattern": ENV_NAME.pattern})
    author: str | None = None
    description: str | None = None
    parameters: list[TemplateParam] = Field(default_factory=list)
    experiment_spec: dict[str, Any] = Field(
        description="An ExperimentSpec whose string values may hold {{name}} placeholders.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not ENV_NAME.match(value):
            raise ValueError(f"'{value}' is not a valid template name: {ENV_NAME_RULE}")
        return value


class TemplateSubmit(Request):
    """The body of ``POST /api/v1/experiment/{templateName}``: values of the template's parameters."""

    params: dict[str, str] = Field(default_factory=dict)




#: A stored template's spec: what was sent, its parameters including those Submarine adds.
TemplateEcho = Annotated[dict[str, Any], WithJsonSchema({"x-request-model": "TemplateSpec"})]


class Template(Response):
    """A stored template: ``experimentTemplate_<serverStartMillis>_<seq>`` and its spec, whose
    ``parameters`` include those Submarine adds per role."""

    experiment_template_id: str
    experiment_template_spec: TemplateEcho
