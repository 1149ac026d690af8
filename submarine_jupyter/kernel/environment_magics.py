"""``%submarine env list|get|create|delete``: Submarine's stored environments."""

from __future__ import annotations

import argparse
import json
from typing import Any

from IPython.core.error import UsageError

from . import render
from .client import Environment, SubmarineClient


def environment_command(
    client: SubmarineClient, args: argparse.Namespace, cell: str | None
) -> list[Environment] | None:
    """Run ``%submarine env ACTION``; ``list`` returns what it listed (for ``-o``)."""
    if cell is not None and args.env_command != "create":
        raise UsageError(f"%%submarine env {args.env_command}: takes no cell body")
    if args.env_command == "list":
        environments = client.list_environments()
        rows = [
            [
                e["environmentSpec"].get("name", ""),
                e["environmentSpec"].get("dockerImage") or e["environmentSpec"].get("image") or "",
                e["environmentSpec"].get("description") or "",
            ]
            for e in environments
        ]
        headers = ("NAME", "IMAGE", "DESCRIPTION")
        print(render.text_table(headers, rows) if rows else "No environments.")
        return environments
    if args.env_command == "get":
        print(json.dumps(client.get_environment(args.name), indent=2))
    elif args.env_command == "delete":
        client.delete_environment(args.name)
        print(f"Deleted environment {args.name}.")
    else:
        created = client.create_environment(_environment_spec(args, cell))
        print(f"Created environment {created['environmentSpec']['name']} ({created['environmentId']}).")
    return None


def _environment_spec(args: argparse.Namespace, cell: str | None) -> dict[str, Any] | str:
    if cell and cell.strip():
        return cell
    if not args.name:
        raise UsageError(
            "%submarine env create: give NAME --image IMAGE, or use %%submarine env create "
            "with an EnvironmentSpec (YAML or JSON) as the cell"
        )
    spec: dict[str, Any] = {"name": args.name}
    if args.image:
        spec["dockerImage"] = args.image
    if args.description:
        spec["description"] = args.description
    if args.pip or args.conda or args.channel:
        spec["kernelSpec"] = {
            "name": args.name, "channels": args.channel,
            "condaDependencies": args.conda, "pipDependencies": args.pip,
        }
    return spec
