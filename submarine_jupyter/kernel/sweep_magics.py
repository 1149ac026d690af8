"""``%submarine sweep TEMPLATE --grid p=a,b`` / ``--random N --param p=loguniform(a,b)``, and
``sweep status|list|stop``: one experiment per trial of a template's parameters, judged by a metric.

``%submarine sweep TEMPLATE ...`` is short for ``%submarine sweep create TEMPLATE ...``.
"""

from __future__ import annotations

import argparse
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from IPython.display import display

from .command_line import Parser, add_action, positive
from .spec_builder import parse_pairs
from .sweep_view import SweepView, best_text, headline, sweep_text, sweeps_table
from .types import Sweep

if TYPE_CHECKING:
    from .magics import SubmarineMagics

AddCommand = Callable[..., argparse.ArgumentParser]
ACTIONS = ("create", "status", "list", "stop")
#: A ``--param`` value that is a distribution to draw from (``--random``), not a fixed value.
DISTRIBUTION = re.compile(r"^\s*(uniform|loguniform|randint|choice)\(.*\)\s*$")


def expand_shorthand(words: list[str]) -> list[str]:
    """``["sweep", "train", ...]`` -> ``["sweep", "create", "train", ...]``."""
    if words[:1] == ["sweep"] and len(words) > 1 and words[1] not in ACTIONS and not words[1].startswith("-"):
        return ["sweep", "create", *words[1:]]
    return words


def _at_least_one(text: str) -> int:
    value = positive(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def add_commands(add: AddCommand, parents: dict[str, Parser]) -> None:
    """Register ``sweep`` with the ``%submarine`` parser."""
    sweep = add(
        "sweep", "Parameter sweeps: one experiment per trial of a template's parameters, at most --parallel "
        "at a time, judged by --objective. %submarine sweep TEMPLATE ... is short for %submarine sweep "
        "create TEMPLATE ...",
    )
    actions = sweep.add_subparsers(dest="sweep_command", metavar="ACTION", parser_class=Parser)
    actions.required = True
    wait = Parser(add_help=False)
    wait.add_argument("--wait", action="store_true", help="block until the sweep ends, then print the best trial")
    create = add_action(
        actions, "create", "start a sweep of a template (also: %submarine sweep TEMPLATE ...)",
        description="Start a sweep: one experiment per trial, submitted from TEMPLATE with the trial's "
        "parameters: every combination of the --grid values, or --random N draws from the --param "
        "distributions. It shows the trials live, best first by --objective.",
        parents=[wait, parents["output"]],
        epilog="Examples: %submarine sweep train --grid lr=0.1,0.01 --grid batch=32,64 --parallel 2 "
        "--objective loss:min; %submarine sweep train --random 8 --param lr=loguniform(1e-4,1e-1) --seed 1",
    )
    create.add_argument("template", metavar="TEMPLATE", help="the stored template each trial is submitted from")
    search = create.add_mutually_exclusive_group(required=True)
    search.add_argument(
        "--grid", action="append", metavar="P=V1,V2", help="values of a parameter; every combination runs (repeatable)"
    )
    search.add_argument("--random", type=_at_least_one, metavar="N", help="N trials drawn from the --param distributions")
    create.add_argument(
        "--param", action="append", default=[], metavar="P=V",
        help="a value every trial gets, or with --random a distribution: uniform(a,b), loguniform(a,b), "
        "randint(a,b), choice(x,y,..) (repeatable)",
    )
    create.add_argument("--seed", type=int, metavar="S", help="seed of the random draws (the same seed, the same trials)")
    create.add_argument("--parallel", type=_at_least_one, metavar="K", help="trials running at a time at most (default 1)")
    create.add_argument("--objective", metavar="METRIC[:min|max]", help="the metric that judges trials, e.g. loss:min")
    create.add_argument("--name", help="the sweep's name (DNS-1123 label; default: the template's with a suffix)")
    status = add_action(
        actions, "status", "show a sweep's trials with their parameters, status and objective, best first, "
        "live until it ends", parents=[wait, parents["output"]],
    )
    status.add_argument("name", metavar="NAME", help="the sweep's name")
    add_action(actions, "list", "list sweeps with their progress and best trial", parents=[parents["output"]])
    stop = add_action(
        actions, "stop", "stop a sweep: its running trials stop (kept, as Stopped), its waiting ones never run",
        parents=[parents["output"]],
    )
    stop.add_argument("name", metavar="NAME", help="the sweep's name")
    sweep.set_defaults(handler=sweep_command)


# -- pure: the SweepSpec ------------------------------------------------------------------


def default_sweep_name(template: str) -> str:
    """A DNS-1123 label from the template's name and a random suffix: ``train-3f9a1c``."""
    label = re.sub(r"[^a-z0-9]+", "-", template.lower()).strip("-")[:56].strip("-")
    return f"{label or 'sweep'}-{secrets.token_hex(3)}"


def parse_objective(text: str) -> dict[str, str]:
    """``loss:min`` -> ``{"metric": "loss", "goal": "min"}``; ``loss`` -> ``{"metric": "loss"}``."""
    metric, sep, goal = text.rpartition(":")
    if not sep:
        return {"metric": text}
    if goal not in ("min", "max") or not metric:
        raise ValueError(f"--objective {text!r}: expected METRIC, METRIC:min or METRIC:max")
    return {"metric": metric, "goal": goal}


def parse_grid(items: Iterable[str]) -> dict[str, list[str]]:
    """``["lr=0.1,0.01"]`` -> ``{"lr": ["0.1", "0.01"]}``."""
    return {key: [v.strip() for v in values.split(",") if v.strip()] for key, values in parse_pairs(items, "--grid").items()}


def build_sweep_spec(
    template: str, *, grid: Sequence[str] = (), random: int | None = None, params: Sequence[str] = (),
    seed: int | None = None, parallel: int | None = None, objective: str | None = None, name: str | None = None,
) -> dict[str, Any]:
    """The body of ``POST /api/v1/sweep`` from the ``sweep create`` flags (the server checks the rest)."""
    values = parse_pairs(params, "--param")
    drawn = {key: value for key, value in values.items() if DISTRIBUTION.match(value)}
    if drawn and random is None:
        key = next(iter(drawn))
        raise ValueError(f"--param {key}={drawn[key]}: a distribution needs --random N (a grid takes --grid {key}=A,B)")
    if seed is not None and random is None:
        raise ValueError("--seed needs --random N")
    spec: dict[str, Any] = {
        "name": name or default_sweep_name(template), "template": template,
        "params": {key: value for key, value in values.items() if key not in drawn},
    }
    if random is not None:
        spec["random"] = {"count": random, "params": drawn, **({"seed": seed} if seed is not None else {})}
    else:
        spec["grid"] = parse_grid(grid)
    if parallel is not None:
        spec["parallel"] = parallel
    if objective:
        spec["objective"] = parse_objective(objective)
    return spec


# -- the sub-commands -------------------------------------------------------------------


def sweep_command(magics: SubmarineMagics, args: argparse.Namespace, cell: str | None) -> None:
    client = magics.client
    if args.sweep_command == "create":
        spec = build_sweep_spec(
            args.template, grid=args.grid or (), random=args.random, params=args.param, seed=args.seed,
            parallel=args.parallel, objective=args.objective, name=args.name,
        )
        sweep = client.create_sweep(spec)
        print(f"Started sweep {sweep['name']}: {len(sweep['trials'])} trials of template {sweep['template']}, "
              f"{sweep['parallel']} at a time.")
        _show(magics, args, sweep)
    elif args.sweep_command == "status":
        _show(magics, args, client.get_sweep(args.name))
    elif args.sweep_command == "list":
        sweeps = client.list_sweeps()
        magics.store(args, sweeps)
        table_html, table_text = sweeps_table(sweeps)
        display({"text/html": table_html, "text/plain": table_text}, raw=True)
    else:
        _stop(magics, args)


def _show(magics: SubmarineMagics, args: argparse.Namespace, sweep: Sweep) -> None:
    """A live view in a kernel with a front-end, the text elsewhere; with ``--wait``, block
    until the sweep ends and say how it ended."""
    magics.store(args, sweep)
    view = SweepView(magics.client, sweep) if getattr(magics.shell, "kernel", None) is not None else None
    if view is not None:
        display(view)
    if not args.wait:
        if view is None:
            print(sweep_text(sweep))
        return
    try:
        sweep = magics.client.wait_sweep(sweep["name"])
    except KeyboardInterrupt:
        print(f"\nStopped waiting; sweep {sweep['name']} goes on (%submarine sweep stop {sweep['name']} stops it).")
        return
    magics.store(args, sweep)
    if view is not None:
        view.apply(sweep)
        print("\n".join(filter(None, (headline(sweep), best_text(sweep)))))
    else:
        print(sweep_text(sweep))


def _stop(magics: SubmarineMagics, args: argparse.Namespace) -> None:
    sweep = magics.client.stop_sweep(args.name)
    magics.store(args, sweep)
    if sweep["status"] != "Stopped":
        print(f"Sweep {args.name} has already ended ({sweep['status']}): nothing was stopped.")
        return
    stopped = sum(1 for t in sweep["trials"] if t["status"] == "Stopped" and t["experimentId"])
    never = sum(1 for t in sweep["trials"] if t["experimentId"] is None)
    print(f"Stopped sweep {args.name}: {stopped} started trials stopped (kept), {never} waiting never run.")
