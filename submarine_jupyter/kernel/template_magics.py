"""``%submarine template create|list|get|delete`` and ``%submarine run --template NAME --param
k=v``: Submarine's experiment templates, a spec with ``{{name}}`` placeholders and parameters."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from IPython.core.error import UsageError

from . import render
from .command_line import Parser, add_action
from .errors import SubmarineError
from .spec_builder import parse_pairs
from .types import Template, TemplateParam

if TYPE_CHECKING:
    from .magics import SubmarineMagics

AddCommand = Callable[..., argparse.ArgumentParser]

#: The parameters Submarine adds to every template, per role.
ROLE_PARAMETER = re.compile(r"^spec\.[A-Za-z]+\.(replicas|resourceMap\.cpu|resourceMap\.memory)$")

#: ``run`` flags that build a spec, which a template's spec replaces (flag, its default).
SPEC_FLAGS: tuple[tuple[str, Any], ...] = (
    ("--workers", None), ("--ps", None), ("--resources", None), ("--env", []), ("--image", None),
    ("--name", None), ("--framework", None), ("--chief", False), ("--master", None), ("--environment", None),
    ("--tag", []), ("--namespace", None), ("--target", None), ("--dry-run", False),
)


def add_commands(add: AddCommand, parents: dict[str, Parser]) -> None:
    """Register ``template`` with the ``%submarine`` parser."""
    template = add(
        "template", "Manage experiment templates: a spec whose string values hold {{name}} placeholders, "
        "with parameters (Submarine's template object). Run one with %submarine run --template NAME --param k=v.",
    )
    actions = template.add_subparsers(dest="template_command", metavar="ACTION", parser_class=Parser)
    actions.required = True
    create = add_action(
        actions, "create", "store a template: the cell (YAML or JSON) or FILE",
        description="Store a template: %%submarine template create with the template (name, author, "
        "description, parameters [{name, value, required, description}], experimentSpec) as the cell "
        "(YAML or JSON), or FILE.", parents=[parents["output"]],
    )
    create.add_argument("file", nargs="?", metavar="FILE", help="a YAML or JSON template file")
    create.add_argument("--replace", action="store_true", help="replace a stored template of the same name")
    add_action(actions, "list", "list templates (their own parameters with defaults)", parents=[parents["output"]])
    for action, text in (("get", "show a template: its parameters and spec"), ("delete", "delete a template")):
        add_action(actions, action, text, parents=[parents["output"]]).add_argument(
            "name", metavar="NAME", help="the template's name")
    template.set_defaults(handler=template_command)


def add_run_arguments(run: argparse.ArgumentParser) -> None:
    """``run --template NAME --param k=v``."""
    run.epilog = f"{run.epilog}; from a template: %submarine run --template train --param lr=0.01"
    group = run.add_argument_group("from a template (instead of a command)")
    group.add_argument("--template", metavar="NAME", help="submit this stored template")
    group.add_argument(
        "--param", action="append", default=[], metavar="K=V",
        help="a value of one of its parameters (repeatable; also spec.Worker.replicas=N, "
        "spec.Worker.resourceMap.cpu=C, ...)",
    )


def template_command(magics: SubmarineMagics, args: argparse.Namespace, cell: str | None) -> None:
    action = args.template_command
    if cell is not None and action != "create":
        raise UsageError(f"%%submarine template {action}: takes no cell body")
    client = magics.client
    if action == "list":
        templates = client.list_templates()
        magics.store(args, templates)
        rows = [
            [t["experimentTemplateSpec"]["name"], parameters_text(t), t["experimentTemplateSpec"].get("author") or "",
             (t["experimentTemplateSpec"].get("description") or "").strip()]
            for t in templates
        ]
        print(render.text_table(("NAME", "PARAMETERS", "AUTHOR", "DESCRIPTION"), rows) if rows else "No templates.")
    elif action == "get":
        template = client.get_template(args.name)
        magics.store(args, template)
        print(template_text(template))
    elif action == "delete":
        deleted = client.delete_template(args.name)
        magics.store(args, deleted)
        print(f"Deleted template {args.name}.")
    else:
        template, replaced = _create(magics, _template_text(args, cell), args.replace)
        magics.store(args, template)
        name = template["experimentTemplateSpec"]["name"]
        print(
            f"{'Replaced' if replaced else 'Created'} template {name} ({template['experimentTemplateId']}); "
            f"parameters: {parameters_text(template) or 'none'}"
        )


def _template_text(args: argparse.Namespace, cell: str | None) -> str:
    if args.file:
        try:
            return Path(args.file).read_text()
        except OSError as error:
            raise UsageError(f"%submarine template create: {error.strerror}: {args.file}") from None
    if cell and cell.strip():
        return cell
    raise UsageError(
        "%submarine template create: give a template FILE, or use %%submarine template create with the "
        "template (YAML or JSON) as the cell"
    )


def _create(magics: SubmarineMagics, text: str, replace: bool) -> tuple[Template, bool]:
    """The stored template, and whether it replaced one of the same name."""
    try:
        return magics.client.create_template(text), False
    except SubmarineError as error:
        if not replace or error.code != 409:
            raise
    name = str(yaml.safe_load(text)["name"])  # the server read it to find that it exists
    return magics.client.patch_template(name, text), True


def parameters_text(template: Template) -> str:
    """``lr=0.1, batch=32, steps`` (its own parameters, not those Submarine adds per role)."""
    parameters = template["experimentTemplateSpec"].get("parameters") or []
    return ", ".join(
        p["name"] if p.get("value") is None else f"{p['name']}={p['value']}"
        for p in parameters if not ROLE_PARAMETER.match(p["name"])
    )


def template_text(template: Template) -> str:
    """A template for people: name and id, description, parameters, the spec as YAML."""
    spec = template["experimentTemplateSpec"]
    lines = [f"{spec['name']} ({template['experimentTemplateId']})"]
    if spec.get("author"):
        lines.append(f"author: {spec['author']}")
    if spec.get("description"):
        lines.append(str(spec["description"]).strip())
    rows = [
        [p["name"], "" if p.get("value") is None else str(p["value"]), "yes" if _required(p) else "",
         (p.get("description") or "").strip()]
        for p in spec.get("parameters") or []
    ]
    if rows:
        lines.append(render.text_table(("PARAMETER", "DEFAULT", "REQUIRED", "DESCRIPTION"), rows))
    lines.append(yaml.safe_dump({"experimentSpec": spec.get("experimentSpec")}, sort_keys=False).rstrip())
    return "\n".join(lines)


def _required(parameter: TemplateParam) -> bool:
    required = parameter.get("required")
    return required is True or str(required).lower() == "true"


def submit_command(magics: SubmarineMagics, args: argparse.Namespace, cell: str | None) -> None:
    """``run --template NAME --param k=v``: an experiment from a stored template."""
    given = [flag for flag, default in SPEC_FLAGS if getattr(args, flag[2:].replace("-", "_")) != default]
    if given or cell is not None or args.rest:
        what = ", ".join(given) or ("a cell body" if cell is not None else "a command after --")
        raise UsageError(
            f"%submarine run --template: the template's spec is what runs, so {what} cannot be given; "
            "set its parameters with --param (e.g. --param spec.Worker.replicas=2)"
        )
    experiment = magics.client.submit_template(args.template, parse_pairs(args.param, "--param"))
    magics.store(args, experiment)
    if args.wait:
        magics.follow(args, experiment)
    else:
        magics.show(args, experiment)
