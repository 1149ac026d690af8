"""The ``%submarine`` command line's parts: argparse that raises ``UsageError`` instead of
exiting, argument types, and the argument groups sub-commands share."""

from __future__ import annotations

import argparse
import sys
from typing import Any, NoReturn

from IPython.core.error import UsageError

from ..wire.constants import STATUSES

STATUS_CHOICES = STATUSES


class HelpShown(Exception):
    """argparse printed help (``--help``) and wanted to exit."""


class Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so the kernel survives ``--help`` and typos."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            sys.stderr.write(message)
        raise HelpShown


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def variable(text: str) -> str:
    if not text.isidentifier():
        raise argparse.ArgumentTypeError(f"{text!r} is not a Python variable name")
    return text


def shared_groups() -> dict[str, Parser]:
    """Argument groups shared between sub-commands."""
    ident = Parser(add_help=False)
    ident.add_argument("id", metavar="ID", help="experiment id (experiment_<millis>_<seq>)")

    output = Parser(add_help=False)
    output.add_argument(
        "-o", "--output", metavar="VAR", type=variable,
        help="also store the result in this notebook variable",
    )

    counts = Parser(add_help=False)
    group = counts.add_argument_group("replicas and what they run")
    group.add_argument(
        "--workers", type=positive, metavar="N",
        help="Worker replicas (default: 0 with a Master or Chief, else 1)",
    )
    group.add_argument("--ps", type=positive, metavar="N", help="Ps replicas (TensorFlow)")
    group.add_argument(
        "--resources", metavar="cpu=..,memory=..,gpu=..", help="resources of every replica"
    )
    group.add_argument(
        "--env", action="append", default=[], metavar="K=V",
        help="environment variable of every replica (repeatable)",
    )
    group.add_argument("--image", metavar="IMAGE", help="container image")

    spec = Parser(add_help=False)
    group = spec.add_argument_group("experiment")
    group.add_argument("--name", help="experiment name (DNS-1123 label; default: from the command)")
    group.add_argument(
        "--framework", help="TensorFlow, PyTorch or XGBoost (default: PyTorch)"
    )
    group.add_argument("--chief", action="store_true", help="add one Chief (TensorFlow)")
    group.add_argument(
        "--master", action=argparse.BooleanOptionalAction, default=None,
        help="one Master (default: yes for PyTorch and XGBoost, no for TensorFlow)",
    )
    group.add_argument("--environment", metavar="NAME", help="a stored environment (not with --image)")
    group.add_argument("--tag", action="append", default=[], metavar="T", help="tag (repeatable)")
    group.add_argument("--namespace", help="Kubernetes namespace (default: default)")
    group.add_argument(
        "--target", metavar="NAME",
        help="where it runs: local or a configured cluster (default: the server's; %%submarine targets lists them)",
    )

    launch = Parser(add_help=False)
    group = launch.add_argument_group("launch")
    add_wait(group)
    group.add_argument(
        "--dry-run", action="store_true", help="show what would be submitted; start nothing"
    )
    wait = Parser(add_help=False)
    add_wait(wait.add_argument_group("launch"))

    view = Parser(add_help=False)
    view.add_argument(
        "--chart", action="append", metavar="METRIC",
        help="chart this metric in the widget (repeatable; default: the first ones reported)",
    )
    return {
        "id": ident, "output": output, "counts": counts, "spec": spec, "launch": launch, "wait": wait, "view": view,
    }


def add_wait(group: argparse._ActionsContainer) -> None:
    """``--wait`` / ``--no-wait`` for what launches an experiment."""
    group.add_argument(
        "--wait", action=argparse.BooleanOptionalAction, default=False,
        help="stream the logs and block until the experiment ends (default: --no-wait)",
    )


def add_action(actions: argparse._SubParsersAction[Parser], name: str, text: str, **kwargs: Any) -> Parser:
    """An action of a sub-command (``template create``): ``text`` is its help and, unless
    given, its description (argparse %-formats help texts, not descriptions)."""
    kwargs.setdefault("description", text)
    return actions.add_parser(name, help=text.replace("%", "%%"), **kwargs)
