"""Experiment templates (Submarine's): stored, checked, and submitted with parameter values."""

from __future__ import annotations

from typing import Any

from ..wire.responses import Experiment
from ..wire.templates import Template, TemplateSpec, TemplateSubmit, TemplateUpdate, as_text
from . import answers
from .domain import Origin, TemplateRecord
from .errors import ApiError, parse
from .service import ExperimentService
from .store import Conflict
from .store.templates import TemplateStore
from .templating import TemplateError, check, fill, with_role_parameters

NOT_FOUND_TEMPLATE = "ExperimentTemplate not found."


class TemplateService:
    """Templates by name; ids ``experimentTemplate_<serverStartMillis>_<seq>``."""

    def __init__(self, experiments: ExperimentService) -> None:
        self.experiments = experiments
        self.data = TemplateStore(experiments.store)

    async def create(self, body: Any) -> Template:
        spec = self._checked(body)
        try:
            record = await self.data.insert(
                spec.name, lambda seq: f"experimentTemplate_{self.experiments.start_millis}_{seq:04d}", spec.dump())
        except Conflict:
            raise ApiError(409, f"name: template '{spec.name}' already exists") from None
        return answers.template(record)

    async def list(self) -> list[Template]:
        return [answers.template(record) for record in await self.data.list()]

    async def get(self, name: str) -> Template:
        return answers.template(await self.record(name))

    async def patch(self, name: str, body: Any) -> Template:
        update: TemplateUpdate = parse(TemplateUpdate, body, "template")
        if update.name is not None and update.name != name:
            raise ApiError(400, f"name: cannot rename template '{name}' to '{update.name}'")
        spec = self._checked({**update.dump(), "name": name})
        record = await self.data.update(name, spec.dump())
        if record is None:
            raise ApiError(404, NOT_FOUND_TEMPLATE)
        return answers.template(record)

    async def delete(self, name: str) -> Template:
        record = await self.data.delete(name)
        if record is None:
            raise ApiError(404, NOT_FOUND_TEMPLATE)
        return answers.template(record)

    async def submit(self, name: str, body: Any, *, sweep: str | None = None) -> Experiment:
        """An experiment from the template named ``name`` with ``body``'s ``params``."""
        submission: TemplateSubmit = parse(TemplateSubmit, body, "template submission")
        params = {key: as_text(value) for key, value in submission.params.items()}
        return await self.run(await self.record(name), params, sweep=sweep)

    @staticmethod
    def spec_of(record: TemplateRecord) -> TemplateSpec:
        return TemplateSpec.model_validate(record.spec)

    async def run(self, record: TemplateRecord, params: dict[str, str], *, sweep: str | None = None) -> Experiment:
        """An experiment from ``record`` with ``params`` (part of ``sweep``, if given)."""
        try:
            spec = fill(self.spec_of(record), params)
        except TemplateError as error:
            raise ApiError(400, str(error)) from None
        created = await self.experiments.create(spec, origin=Origin(template=record.name, sweep=sweep))
        assert isinstance(created, Experiment)
        return created

    def _checked(self, body: Any) -> TemplateSpec:
        spec = with_role_parameters(parse(TemplateSpec, body, "template"))
        try:
            check(spec)
        except TemplateError as error:
            raise ApiError(400, str(error)) from None
        return spec

    async def record(self, name: str) -> TemplateRecord:
        """The stored template; 404 in Submarine's words when there is none."""
        record = await self.data.get(name)
        if record is None:
            raise ApiError(404, NOT_FOUND_TEMPLATE)
        return record
