"""``%submarine`` / ``%%submarine``: launch, watch, resize and stop experiments from a notebook.

Every sub-command has ``--help``. User mistakes (bad flags, an unknown id, an error answer
of the server) end in a one-line ``UsageError`` and never a traceback. ``run`` returns at
once and shows a live widget; ``--wait`` streams replica-prefixed logs and ends with the
final status (Ctrl-C stops waiting, never the experiment). Sub-commands that have their own
module (``stop``/``rerun``, ``template``, ``sweep``, ``env``) register themselves here.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.display import display

from . import charts, iterate_magics, render, sweep_magics, template_magics
from .charts import MetricsChart
from .client import Experiment, SubmarineClient, SubmarineError, replica_label
from .command_line import STATUS_CHOICES, HelpShown, Parser, positive, shared_groups
from .environment_magics import environment_command
from .spec_builder import (
    build_spec,
    default_name,
    missing_master_warning,
    parse_pairs,
    patch_spec,
    script_command,
)
from .widgets import ExperimentWidget


def build_parser() -> argparse.ArgumentParser:
    """The ``%submarine`` command line."""
    p = shared_groups()
    parser = Parser(
        prog="%submarine",
        description="Run and manage Submarine experiments on this Jupyter server.",
        epilog="%submarine COMMAND --help shows a command's options.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.required = True

    def add(name: str, help: str, *parents: str, **kwargs: Any) -> argparse.ArgumentParser:
        return commands.add_parser(  # argparse %-formats help texts, not descriptions
            name, help=help.replace("%", "%%"), description=help,
            parents=[p[x] for x in parents], **kwargs,
        )

    run = add(
        "run", "Launch an experiment: %submarine run [flags] -- CMD ..., or %%submarine run "
        "[flags] with the training script as the cell (arguments after -- go to it).",
        "counts", "spec", "launch", "view", "output",
    )
    run.epilog = "Example: %submarine run --workers 2 --wait -- python train.py --epochs 3"
    template_magics.add_run_arguments(run)
    create = add(
        "create", "Submit a full experiment spec: the cell (YAML or JSON) or FILE.",
        "launch", "view", "output",
    )
    create.add_argument("file", nargs="?", metavar="FILE", help="a YAML or JSON spec file")
    listing = add("list", "List experiments (a table with coloured statuses).", "output")
    listing.add_argument("--status", type=str.capitalize, choices=STATUS_CHOICES)
    listing.add_argument("--target", metavar="NAME", help="only experiments on this target")
    add("targets", "List where experiments can run: local and each configured cluster, with its API, "
        "reachability and capacity (* marks the default).", "output")
    add("get", "Show an experiment (live widget).", "id", "view", "output")
    add("watch", "Show a live widget for an experiment.", "id", "view")
    compare = add(
        "compare", "Compare experiments: a chart of one metric across the runs, and a table of "
        "name, status, duration, what differs (env vars, command options, parameters) and "
        "each metric's last/min/max.", "output",
    )
    compare.add_argument("ids", nargs="*", metavar="ID", help="experiments (default: every one)")
    compare.add_argument("--sweep", metavar="NAME", help="the trials of this sweep, best first (instead of IDs)")
    compare.add_argument("--metric", help="only this metric (default: chart loss or the first, table all)")
    compare.add_argument("--prefix", metavar="P", help="only experiments whose name starts with P")
    compare.add_argument("--status", type=str.capitalize, choices=STATUS_CHOICES, help="only those with this status")
    logs = add("logs", "Print an experiment's logs, each line prefixed by its replica.", "id")
    logs.add_argument("-f", "--follow", action="store_true", help="stream until it ends")
    logs.add_argument("--replica", metavar="NAME", help="only this replica (e.g. worker-1)")
    logs.add_argument("--tail", type=positive, metavar="N", help="only the last N lines")
    add("patch", "Change a running experiment (replicas, resources, variables, image); an ended one only "
        "records the new spec (rerun runs it).", "id", "counts", "output")
    wait = add(
        "wait", "Block until an experiment ends (or reaches --until); print its status.",
        "id", "output",
    )
    wait.add_argument("--timeout", type=float, metavar="S", help="give up after S seconds")
    wait.add_argument(
        "--until", type=str.capitalize, choices=STATUS_CHOICES[1:3], action="append", default=[],
        help="also return at this status (Created or Running; repeatable)",
    )
    add("delete", "Stop and delete an experiment with its logs and metrics (stop keeps them).", "id")
    iterate_magics.add_commands(add)
    template_magics.add_commands(add, p)
    sweep_magics.add_commands(add, p)
    add("ping", "Check the API and show which server this kernel talks to.")
    connect = add("connect", "Talk to another server serving this API from now on.")
    connect.add_argument("url", metavar="URL", help="the Jupyter server URL, base_url included")
    connect.add_argument("--token", default="", help="its token")

    env = add("env", "Manage stored environments.")
    env_commands = env.add_subparsers(dest="env_command", metavar="ACTION", parser_class=Parser)
    env_commands.required = True
    env_commands.add_parser("list", help="list environments", parents=[p["output"]])
    for action, text in (("get", "show an environment"), ("delete", "delete an environment")):
        env_commands.add_parser(action, help=text).add_argument("name", metavar="NAME")
    env_create = env_commands.add_parser(
        "create", help="store an environment: NAME --image IMG, or the cell's EnvironmentSpec"
    )
    env_create.add_argument("name", nargs="?", metavar="NAME")
    env_create.add_argument("--image", metavar="IMAGE", help="its docker image")
    env_create.add_argument("--description")
    env_create.add_argument("--pip", action="append", default=[], metavar="PKG")
    env_create.add_argument("--conda", action="append", default=[], metavar="PKG")
    env_create.add_argument("--channel", action="append", default=[], metavar="CHANNEL")
    return parser


_SEPARATOR = re.compile(r"(?:^|\s)--(?:\s+|$)")


def split_command(line: str) -> tuple[str, str]:
    """``"--workers 2 -- python t.py"`` -> ``("--workers 2", "python t.py")``; the part after
    the first lone ``--`` is kept verbatim, as the shell command line it is."""
    parts = _SEPARATOR.split(line, maxsplit=1)
    return parts[0].strip(), (parts[1].strip() if len(parts) > 1 else "")


@magics_class
class SubmarineMagics(Magics):
    """``%submarine COMMAND ...``; see ``%submarine --help``."""

    def __init__(self, shell: Any = None) -> None:
        super().__init__(shell)
        self._client: SubmarineClient | None = None
        self.parser = build_parser()

    @property
    def client(self) -> SubmarineClient:
        """The client of this session, found on first use (see ``SubmarineClient``)."""
        if self._client is None:
            self._client = SubmarineClient()
        return self._client

    @line_cell_magic
    def submarine(self, line: str, cell: str | None = None) -> None:
        """Run and manage Submarine experiments; ``%submarine --help`` lists the commands."""
        flags, rest = split_command(line)
        try:
            args = self.parser.parse_args(sweep_magics.expand_shorthand(shlex.split(flags)) or ["--help"])
        except HelpShown:
            return
        except ValueError as error:  # unbalanced quotes in shlex.split
            raise UsageError(f"%submarine: {error}") from None
        args.rest = rest
        if rest and args.command not in ("run", "rerun"):
            raise UsageError(f"%submarine {args.command}: takes no command after --")
        if cell is not None and args.command not in ("run", "create", "env", "template"):
            raise UsageError(f"%%submarine {args.command}: takes no cell body")
        command: Callable[[SubmarineMagics, argparse.Namespace, str | None], None] | None = getattr(
            args, "handler", None
        )
        try:
            if command is not None:
                command(self, args, cell)
            else:
                getattr(self, f"_{args.command}")(args, cell)
        except (SubmarineError, ValueError) as error:
            raise UsageError(str(error)) from None

    # -- helpers (the sub-command modules use them too) ------------------------------

    def store(self, args: argparse.Namespace, value: Any) -> None:
        """Store ``value`` in the notebook variable of ``-o VAR``, if given."""
        if getattr(args, "output", None) and self.shell is not None:
            self.shell.user_ns[args.output] = value

    def show(self, args: argparse.Namespace, experiment: Experiment) -> None:
        """A live widget in a kernel with a front-end; the text summary anywhere else."""
        if getattr(self.shell, "kernel", None) is not None:
            display(ExperimentWidget(self.client, experiment, charts=args.chart))
        else:
            print(render.summary_text(experiment))

    def _launch(self, args: argparse.Namespace, spec: dict[str, Any] | str) -> None:
        warning = missing_master_warning(spec)
        if warning:
            print(warning, file=sys.stderr)
        if args.dry_run:
            plan = self.client.create(spec, dry_run=True)
            self.store(args, plan)
            print(f"Dry run on the {plan['backend']} backend (nothing was started):")
            print(yaml.safe_dump(plan["plan"], sort_keys=False).rstrip())
            return
        experiment = self.client.create(spec)
        self.store(args, experiment)
        if args.wait:
            self.follow(args, experiment)
        else:
            self.show(args, experiment)

    def follow(self, args: argparse.Namespace, experiment: Experiment) -> None:
        """Stream logs with replica prefixes until the end, then print the final status."""
        experiment_id = experiment["experimentId"]
        print(f"{experiment_id} ({experiment.get('name')}): {experiment.get('status')}; "
              "streaming logs (interrupt the kernel to stop waiting)", flush=True)
        try:
            self._print_stream(experiment_id)
            final = self.client.wait(experiment_id)
        except KeyboardInterrupt:
            print(f"\nStopped waiting; {experiment_id} goes on "
                  f"(%submarine stop {experiment_id} stops it).")
            return
        self._report_final(args, final)

    def _print_stream(
        self, experiment_id: str, replica: str | None = None, tail: int | None = None
    ) -> None:
        """Print followed log lines as they come, each prefixed with its replica."""
        for pod, line in self.client.logs(experiment_id, follow=True, replica=replica, tail=tail):
            print(f"[{replica_label(experiment_id, pod)}] {line}", flush=True)

    def _report_final(self, args: argparse.Namespace, experiment: Experiment) -> None:
        self.store(args, experiment)
        text = f"{experiment['experimentId']} {experiment.get('status')}"
        if experiment.get("status") == "Failed":
            reason = experiment.get("statusMessage")
            raise UsageError(f"{text}: {reason}" if reason else text)
        print(text)

    # -- experiments ----------------------------------------------------------------

    def _run(self, args: argparse.Namespace, cell: str | None) -> None:
        if args.template:
            template_magics.submit_command(self, args, cell)
            return
        if args.param:
            raise UsageError("%submarine run: --param sets a template's parameters: give --template NAME")
        if cell is None and not args.rest:
            raise UsageError(
                "%submarine run: give the command after --, e.g. "
                "%submarine run --workers 2 -- python train.py (or use %%submarine run "
                "with the training script as the cell)"
            )
        if cell is not None:
            name = args.name or default_name(self._notebook_name())
            cmd = script_command(cell, name, Path.cwd(), args.rest)
        else:
            name, cmd = args.name, args.rest
        spec = build_spec(
            cmd=cmd, name=name, framework=args.framework, workers=args.workers, ps=args.ps,
            chief=args.chief, master=args.master, resources=args.resources, image=args.image,
            environment=args.environment, env=parse_pairs(args.env, "--env"), tags=args.tag,
            namespace=args.namespace, target=args.target,
        )
        self._launch(args, spec)

    @staticmethod
    def _notebook_name() -> str:
        """The notebook's file name when the server told the kernel, else ``cell``."""
        session = os.environ.get("JPY_SESSION_NAME", "")
        return f"{Path(session).stem}.py" if session else "cell.py"

    def _create(self, args: argparse.Namespace, cell: str | None) -> None:
        if args.file:
            try:
                text = Path(args.file).read_text()
            except OSError as error:
                raise UsageError(f"%submarine create: {error.strerror}: {args.file}") from None
        elif cell and cell.strip():
            text = cell
        else:
            raise UsageError(
                "%submarine create: give a spec FILE, or use %%submarine create with the "
                "spec (YAML or JSON) as the cell"
            )
        self._launch(args, text)

    def _list(self, args: argparse.Namespace, cell: str | None) -> None:
        experiments = self.client.list(args.status, args.target)
        self.store(args, experiments)
        table_html, table_text = render.experiments_table(experiments)
        display({"text/html": table_html, "text/plain": table_text}, raw=True)

    def _targets(self, args: argparse.Namespace, cell: str | None) -> None:
        targets = self.client.targets()
        self.store(args, targets)
        table_html, table_text = render.targets_table(targets)
        display({"text/html": table_html, "text/plain": table_text}, raw=True)

    def _get(self, args: argparse.Namespace, cell: str | None) -> None:
        experiment = self.client.get(args.id)
        self.store(args, experiment)
        self.show(args, experiment)

    def _watch(self, args: argparse.Namespace, cell: str | None) -> None:
        self.show(args, self.client.get(args.id))

    def _compare(self, args: argparse.Namespace, cell: str | None) -> None:
        comparison = self.client.comparison(
            args.ids, prefix=args.prefix, status=args.status, metric=args.metric, sweep=args.sweep
        )
        self.store(args, comparison)
        name = comparison.chart_metric()
        series = comparison.chart_series(name) if name else []
        if not series:
            print(f"No run reported {name}." if args.metric else "No run reported metrics yet.")
        elif getattr(self.shell, "kernel", None) is not None:
            display(MetricsChart(series, title=f"{name} by run", y_label=name or ""))
        else:
            print(charts.summary(f"{name} by run", series))
        table_html, table_text = comparison.table()
        display({"text/html": table_html, "text/plain": table_text}, raw=True)

    def _logs(self, args: argparse.Namespace, cell: str | None) -> None:
        if args.follow:
            try:
                self._print_stream(args.id, replica=args.replica, tail=args.tail)
            except KeyboardInterrupt:
                print("\nStopped following.")
            return
        logs = self.client.logs(args.id, replica=args.replica, tail=args.tail)
        lines = [
            f"[{replica_label(args.id, pod)}] {line}"
            for pod, text in logs.items()
            for line in text.splitlines()
        ]
        print("\n".join(lines) if lines else f"No log lines yet for {args.id}.")

    def _patch(self, args: argparse.Namespace, cell: str | None) -> None:
        current = self.client.get(args.id)
        spec = patch_spec(
            current.get("pendingSpec") or current["spec"], workers=args.workers, ps=args.ps,
            resources=args.resources, env=parse_pairs(args.env, "--env"), image=args.image,
        )
        result = self.client.patch(args.id, spec)
        self.store(args, result)
        after = self.client.get(args.id)
        if after.get("pendingSpec") is None:
            print(f"Patched {args.id}: {render.roles_summary(result)}")
            return
        print(
            f"Recorded a new spec for {args.id} ({render.roles_summary(result)}), but it has ended "
            f"({after['status']}): nothing was re-run, and it still shows the spec that ran "
            f"({render.roles_summary(after['spec'])}). %submarine rerun {args.id} runs the new spec."
        )

    def _wait(self, args: argparse.Namespace, cell: str | None) -> None:
        try:
            final = self.client.wait(args.id, timeout=args.timeout, until=args.until)
        except KeyboardInterrupt:
            print(f"\nStopped waiting; {args.id} goes on.")
            return
        self._report_final(args, final)

    def _delete(self, args: argparse.Namespace, cell: str | None) -> None:
        deleted = self.client.delete(args.id)
        print(f"Deleted {deleted['experimentId']} ({deleted.get('name')}).")

    def _ping(self, args: argparse.Namespace, cell: str | None) -> None:
        answer = self.client.ping()
        print(f"{answer} from {self.client.url} (found via {self.client.source})")

    def _connect(self, args: argparse.Namespace, cell: str | None) -> None:
        client = SubmarineClient(args.url, args.token)
        client.ping()
        self._client = client
        print(f"Connected to {client.url}")

    def _env(self, args: argparse.Namespace, cell: str | None) -> None:
        listed = environment_command(self.client, args, cell)
        if listed is not None:
            self.store(args, listed)
