"""``%submarine stop ID``, ``%submarine rerun ID [changes] [-- CMD]`` and ``%submarine promote
ID --to NAME [changes]``: end a run and keep it, or run it again as a new experiment that
records where it came from, here or on another target."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

import yaml
from IPython.core.error import UsageError

from .command_line import positive
from .spec_builder import parse_pairs, patch_paths, rerun_changes

if TYPE_CHECKING:
    from .magics import SubmarineMagics

AddCommand = Callable[..., argparse.ArgumentParser]


def add_commands(add: AddCommand) -> None:
    """Register ``stop`` and ``rerun`` with the ``%submarine`` parser (``add`` as in ``build_parser``)."""
    stop = add(
        "stop", "Stop an experiment: every replica ends; its record, logs and metrics are kept "
        "(status Stopped). delete removes it instead.", "id", "output",
    )
    stop.set_defaults(handler=stop_command)
    rerun = add(
        "rerun", "Run an experiment again as a new one, with changes: %submarine rerun ID [flags] "
        "[-- CMD]. It starts from the spec that ran (or the one PATCHed after it ended); the new "
        "experiment records which one it re-runs.", "id", "wait", "view", "output",
    )
    _add_changes(rerun)
    group = rerun.add_argument_group("changes (what is not given stays as it was)")
    group.add_argument("--cmd", metavar="CMD", help="a new command (or give it after --)")
    group.add_argument("--name", help="a new experiment name")
    rerun.epilog = "Example: %submarine rerun experiment_1_0001 --env LR=0.01 --workers 2 --wait"
    rerun.set_defaults(handler=rerun_command)
    promote = add(
        "promote", "Run an experiment again on another target: %submarine promote ID --to NAME [flags]. "
        "It prints the exact manifest first, then submits a new experiment there that records which "
        "one it re-runs (--to local debugs a cluster spec here). What the target needs that the run "
        "did not (an image, a namespace) is refused with the reason.", "id", "wait", "view", "output",
    )
    promote.add_argument("--to", required=True, metavar="NAME", help="the target (%%submarine targets lists them)")
    promote.add_argument("--dry-run", action="store_true", help="only print the manifest; submit nothing")
    _add_changes(promote)
    promote.epilog = "Example: %submarine promote experiment_1_0001 --to cluster --workers 4 --image me/train:1"
    promote.set_defaults(handler=promote_command)


def _add_changes(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("changes (what is not given stays as it was)")
    group.add_argument("--workers", type=positive, metavar="N", help="Worker replicas (0 drops the Worker role)")
    group.add_argument("--ps", type=positive, metavar="N", help="Ps replicas (0 drops the Ps role)")
    group.add_argument("--resources", metavar="cpu=..,memory=..,gpu=..", help="resources of every replica")
    group.add_argument(
        "--env", action="append", default=[], metavar="K=V", help="add or change a variable of every replica (repeatable)"
    )
    group.add_argument("--image", metavar="IMAGE", help="container image")


def stop_command(magics: SubmarineMagics, args: argparse.Namespace, cell: str | None) -> None:
    stopped = magics.client.stop(args.id)
    magics.store(args, stopped)
    print(
        f"Stopped {stopped['experimentId']} ({stopped.get('name')}): its record, logs and metrics are kept "
        f"(%submarine rerun {stopped['experimentId']} runs it again)."
    )


def rerun_command(magics: SubmarineMagics, args: argparse.Namespace, cell: str | None) -> None:
    if args.cmd and args.rest:
        raise UsageError("%submarine rerun: give the new command with --cmd or after --, not both")
    env = parse_pairs(args.env, "--env")
    original = magics.client.get(args.id)
    pending = original.get("pendingSpec")
    changes = rerun_changes(
        pending or original["spec"], workers=args.workers, ps=args.ps, resources=args.resources,
        env=env, image=args.image, cmd=args.cmd or args.rest or None, name=args.name,
    )
    experiment = magics.client.rerun(args.id, changes)
    magics.store(args, experiment)
    source = "the spec recorded after it ended" if pending else "its spec"
    changed = ", ".join(patch_paths(changes))
    print(
        f"Re-running {args.id} as {experiment['experimentId']} ({experiment.get('name')}) from {source}"
        + (f", changed: {changed}" if changed else ", unchanged")
    )
    if args.wait:
        magics.follow(args, experiment)
    else:
        magics.show(args, experiment)


def promote_command(magics: SubmarineMagics, args: argparse.Namespace, cell: str | None) -> None:
    original = magics.client.get(args.id)
    changes = rerun_changes(
        original.get("pendingSpec") or original["spec"], workers=args.workers, ps=args.ps,
        resources=args.resources, env=parse_pairs(args.env, "--env"), image=args.image,
    )
    plan = magics.client.promote(args.id, args.to, changes, dry_run=True)
    print(f"{args.id} on target {plan['target']} ({plan['backend']}) submits:")
    print(yaml.safe_dump(plan["plan"], sort_keys=False).rstrip())
    if args.dry_run:
        magics.store(args, plan)
        print("Dry run: nothing was submitted.")
        return
    experiment = magics.client.promote(args.id, args.to, changes)
    magics.store(args, experiment)
    print(f"Promoted {args.id} ({original.get('target')}) to {experiment['target']} as {experiment['experimentId']}")
    if args.wait:
        magics.follow(args, experiment)
    else:
        magics.show(args, experiment)
