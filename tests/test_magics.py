"""``%submarine`` through IPython's InteractiveShell against the in-process server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError
from jupyter_client.manager import AsyncKernelManager

from submarine_jupyter.kernel.client import SubmarineClient
from submarine_jupyter.kernel.magics import split_command
from submarine_jupyter.kernel.spec_builder import (
    build_spec,
    default_name,
    missing_master_warning,
    patch_spec,
    script_command,
)
from tests.conftest import ALL_BACKENDS
from tests.kernel_helpers import STEPS_CMD, Shell, job_spec, poll_until


@pytest.fixture
def submarine_config(backend_config: dict[str, Any]) -> dict[str, Any]:
    return backend_config


BACKENDS = ALL_BACKENDS  # each test on local, the training-operator and Trainer v2


# -- pure: command line and specs ------------------------------------------------------


def test_split_command_keeps_the_shell_command_verbatim() -> None:
    assert split_command("run --workers 2 -- python t.py --lr 0.1 | tee 'a b'") == (
        "run --workers 2", "python t.py --lr 0.1 | tee 'a b'"
    )
    assert split_command("run --wait --name a--b") == ("run --wait --name a--b", "")
    assert split_command("run --") == ("run", "")


def test_build_spec_defaults_and_roles() -> None:
    spec = build_spec(cmd="python train_mnist.py --epochs 1")
    assert spec == {
        "meta": {"name": "train-mnist", "framework": "PyTorch", "cmd": "python train_mnist.py --epochs 1"},
        "spec": {"Master": {"replicas": 1}},
    }
    assert build_spec(cmd="x", workers=2)["spec"] == {"Master": {"replicas": 1}, "Worker": {"replicas": 2}}
    assert build_spec(cmd="x", workers=2, master=False)["spec"] == {"Worker": {"replicas": 2}}
    assert build_spec(cmd="x", framework="TensorFlow")["spec"] == {"Worker": {"replicas": 1}}
    assert build_spec(cmd="x", framework="tensorflow", chief=True)["spec"] == {"Chief": {"replicas": 1}}
    tf = build_spec(
        cmd="python t.py", name="tf", framework="TensorFlow", workers=2, ps=1, chief=True,
        resources="cpu=1,memory=1Gi", image="tf:2", env={"A": "1"}, tags=["x"], namespace="ml",
    )
    assert tf["spec"] == {
        "Chief": {"replicas": 1, "resources": "cpu=1,memory=1Gi"},
        "Ps": {"replicas": 1, "resources": "cpu=1,memory=1Gi"},
        "Worker": {"replicas": 2, "resources": "cpu=1,memory=1Gi"},
    }
    assert tf["meta"] == {
        "name": "tf", "framework": "TensorFlow", "cmd": "python t.py",
        "namespace": "ml", "envVars": {"A": "1"}, "tags": ["x"],
    }
    assert tf["environment"] == {"image": "tf:2"}
    master_only = build_spec(cmd="x", master=True, workers=0, environment="my-env")
    assert master_only["spec"] == {"Master": {"replicas": 1}}
    assert master_only["environment"] == {"name": "my-env"}
    with pytest.raises(ValueError, match="nothing to run"):
        build_spec(cmd="x", workers=0, master=False)
    with pytest.raises(ValueError, match="not both"):
        build_spec(cmd="x", image="a", environment="b")


def test_patch_spec_changes_only_what_is_asked() -> None:
    spec = build_spec(cmd="x", name="n", workers=2, env={"A": "1"})
    patched = patch_spec(spec, workers=4, env={"B": "2"})
    assert patched["spec"]["Worker"]["replicas"] == 4
    assert patched["meta"]["envVars"] == {"A": "1", "B": "2"}
    assert spec["spec"]["Worker"]["replicas"] == 2
    with pytest.raises(ValueError, match="nothing to change"):
        patch_spec(spec)
    with pytest.raises(ValueError, match="at least 1"):
        patch_spec(spec, workers=0)


def test_pytorch_workers_without_a_master_are_warned_about() -> None:
    assert missing_master_warning(build_spec(cmd="x", workers=2)) is None
    warning = missing_master_warning(build_spec(cmd="x", workers=2, master=False))
    assert warning is not None and "no Master" in warning and "KeyError: 'RANK'" in warning
    assert missing_master_warning(build_spec(cmd="x", framework="pytorch", master=False)) is not None
    assert missing_master_warning(build_spec(cmd="x", framework="TensorFlow", workers=2)) is None
    assert missing_master_warning(build_spec(cmd="x", framework="XGBoost", workers=2, master=False)) is None
    assert missing_master_warning({"meta": "not a mapping"}) is None


def test_default_name() -> None:
    assert default_name("python ./My_Script.py --x 1") == "my-script"
    assert default_name("/usr/bin/env") == "env"
    assert default_name("___") == "experiment"


def test_script_command_runs_from_the_notebook_folder(tmp_path: Path) -> None:
    cmd = script_command("print('hi')\n", "demo", tmp_path, "--epochs 2")
    [script] = (tmp_path / ".submarine").glob("demo-*.py")
    assert script.read_text() == "print('hi')\n"
    assert cmd == f"cd {tmp_path.resolve()} && python {script.resolve()} --epochs 2"
    assert script_command("print('hi')\n", "demo", tmp_path) == cmd.removesuffix(" --epochs 2")


# -- parsing and help (no server needed) -----------------------------------------------


@pytest.fixture
def bare_shell(monkeypatch: pytest.MonkeyPatch) -> Shell:
    monkeypatch.setenv("SUBMARINE_JUPYTER_URL", "http://127.0.0.1:9/")
    return Shell()


def test_help(bare_shell: Shell) -> None:
    top = bare_shell.run_sync("%submarine --help")
    assert top.error is None
    for command in ("run", "create", "list", "get", "logs", "patch", "wait", "delete", "env", "watch", "compare"):
        assert f"\n    {command} " in top.stdout
    assert bare_shell.run_sync("%submarine").stdout == top.stdout
    run = bare_shell.run_sync("%submarine run --help")
    for flag in ("--workers N", "--ps N", "--chief", "--master", "--resources", "--image",
                 "--environment", "--env K=V", "--tag", "--namespace", "--wait, --no-wait", "-o VAR",
                 "--chart METRIC"):
        assert flag in run.stdout
    compare = bare_shell.run_sync("%submarine compare --help")
    for flag in ("[ID ...]", "--metric METRIC", "--prefix P", "--status"):
        assert flag in compare.stdout
    assert "replicas and what they run:" in run.stdout and "launch:" in run.stdout
    env = bare_shell.run_sync("%submarine env create --help")
    assert "--image IMAGE" in env.stdout and env.error is None


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("%submarine bogus", "invalid choice: 'bogus'"),
        ("%submarine run --workers x -- true", "argument --workers: 'x' is not a whole number"),
        ("%submarine run --workers -1 -- true", "must be 0 or more"),
        ("%submarine run --workers 2", "give the command after --"),
        ("%submarine run --image a --environment b -- true", "give --image or --environment, not both"),
        ("%submarine run --env NOEQUALS -- true", "--env 'NOEQUALS': expected KEY=VALUE"),
        ("%submarine run -o 1x -- true", "'1x' is not a Python variable name"),
        ("%submarine list --status nope", "invalid choice: 'Nope'"),
        ("%submarine compare --status nope", "invalid choice: 'Nope'"),
        ("%submarine compare x -- y", "takes no command after --"),
        ("%submarine get", "the following arguments are required: ID"),
        ("%submarine logs x -- y", "takes no command after --"),
        ("%submarine env", "required: ACTION"),
        ("%submarine env create", "give NAME --image IMAGE"),
        ("%submarine create", "give a spec FILE"),
        ("%submarine create /no/such/spec.yaml", "No such file or directory: /no/such/spec.yaml"),
        ("%submarine get 'unbalanced", "No closing quotation"),
        ("%%submarine list\nbody", "takes no cell body"),
    ],
)
def test_user_mistakes_are_one_line_usage_errors(bare_shell: Shell, line: str, message: str) -> None:
    result = bare_shell.run_sync(line)
    assert isinstance(result.error, UsageError)
    assert message in result.stderr
    assert result.stderr.startswith("UsageError: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.text()


# -- against the in-process server ------------------------------------------------------


async def test_ping_connect_and_unreachable(shell: Shell, server_url: str, server_token: str) -> None:
    ping = await shell.run("%submarine ping")
    assert ping.stdout.startswith(f"Pong from {server_url} (found via SUBMARINE_JUPYTER_URL)")
    bad = await shell.run("%submarine connect http://127.0.0.1:9/")
    assert "cannot reach the Jupyter server at http://127.0.0.1:9/" in bad.stderr
    assert "Traceback" not in bad.text()
    good = await shell.run(f"%submarine connect {server_url} --token {server_token}")
    assert good.stdout.strip() == f"Connected to {server_url}"
    assert shell.magics.client.source == "argument"


async def test_run_returns_at_once_and_wait_streams_prefixed_logs(shell: Shell) -> None:
    started = await shell.run(f"%submarine run --name bg --workers 2 -o exp -- {STEPS_CMD}")
    assert started.error is None
    experiment_id = shell.ns["exp"]["experimentId"]
    assert f"bg ({experiment_id}): " in started.stdout  # the text summary (no widget front-end)

    waited = await shell.run(f"%submarine wait {experiment_id} --timeout 60 -o final")
    assert waited.stdout.strip() == f"{experiment_id} Succeeded"
    assert shell.ns["final"]["status"] == "Succeeded"

    result = await shell.run(f"%submarine run --wait --workers 2 --name fg -o fg -- {STEPS_CMD}")
    assert result.error is None, result.stderr
    lines = result.stdout.splitlines()
    for rank, replica in enumerate(("master-0", "worker-0", "worker-1")):
        assert [line for line in lines if line.startswith(f"[{replica}] ")] == [
            f"[{replica}] step {i} of rank {rank}/3" for i in (1, 2, 3)
        ]
    assert lines[-1] == f"{shell.ns['fg']['experimentId']} Succeeded"
    assert shell.ns["fg"]["status"] == "Succeeded"


async def test_run_wait_on_a_failing_experiment_fails_the_cell(shell: Shell) -> None:
    result = await shell.run("%submarine run --wait --name boom -- echo about to fail; exit 3")
    assert "[master-0] about to fail" in result.stdout
    assert isinstance(result.error, UsageError)
    assert result.stderr.startswith("UsageError: experiment_") and " Failed" in result.stderr
    assert "Traceback" not in result.text()


async def test_cell_run_writes_the_script_and_resolves_paths_from_the_notebook(
    shell: Shell, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend_config: dict[str, Any]
) -> None:
    """Locally the cell runs from the notebook's folder; on a cluster it travels alone (a
    ConfigMap at ``/code``), so the notebook's other files are not beside it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data.txt").write_text("42\n")
    cell = (
        "import os, sys\n"
        "value = open('data.txt').read().strip() if os.path.exists('data.txt') else 'nothing'\n"
        "print(f'rank {os.environ[\"RANK\"]} read {value} args {sys.argv[1:]} from {os.path.dirname(__file__)}')\n"
        "if os.environ['RANK'] == '0':\n"
        "    import time; time.sleep(1.5)  # the Master ending stops the workers\n"
    )
    result = await shell.run(f"%%submarine run --wait --workers 1 --name cell -- --lr 0.1\n{cell}")
    assert result.error is None, result.stderr
    local = backend_config["SubmarineJupyter"]["backend"] == "local"
    value, folder = ("42", tmp_path / ".submarine") if local else ("nothing", "/code")
    assert f"[master-0] rank 0 read {value} args ['--lr', '0.1'] from {folder}" in result.stdout, result.stdout
    assert f"[worker-0] rank 1 read {value} args ['--lr', '0.1'] from {folder}" in result.stdout, result.stdout
    [script] = (tmp_path / ".submarine").glob("cell-*.py")
    assert script.read_text() == cell


async def test_create_from_cell_file_and_dry_run(shell: Shell, tmp_path: Path) -> None:
    yaml_spec = (
        "meta:\n  name: from-cell\n  framework: PyTorch\n  cmd: echo created\n"
        "spec:\n  Worker:\n    replicas: 1\n"
    )
    created = await shell.run(f"%%submarine create --wait -o made\n{yaml_spec}")
    assert created.error is None, created.stderr
    assert "[worker-0] created" in created.stdout
    assert shell.ns["made"]["name"] == "from-cell" and shell.ns["made"]["status"] == "Succeeded"

    path = tmp_path / "spec.json"
    path.write_text(json.dumps(job_spec("from-file", "true")))
    from_file = await shell.run(f"%submarine create {path} -o f")
    assert from_file.error is None and shell.ns["f"]["name"] == "from-file"

    plan = await shell.run("%submarine run --dry-run --name planned -o plan -- true")
    assert plan.stdout.startswith("Dry run on the ") and "nothing was started" in plan.stdout
    assert shell.ns["plan"]["dryRun"] is True
    listed = await shell.run("%submarine list -o all")
    assert listed.error is None and "planned" not in [e["name"] for e in shell.ns["all"]]

    invalid = await shell.run("%%submarine create\nmeta: {name: Bad_Name}\n")
    assert isinstance(invalid.error, UsageError) and "(400)" in invalid.stderr


async def test_a_pytorch_job_without_a_master_warns_and_goes_ahead(shell: Shell) -> None:
    planned = await shell.run("%submarine run --dry-run --no-master --workers 2 --name nomaster -- true")
    assert planned.error is None and planned.stdout.startswith("Dry run on the ")
    assert planned.stderr.startswith("Warning: this PyTorch job has Workers and no Master") and planned.stderr.count("\n") == 1
    spec = "meta: {name: nomaster, framework: PyTorch, cmd: 'true'}\nspec: {Worker: {replicas: 1}}\n"
    created = await shell.run(f"%%submarine create --dry-run\n{spec}")
    assert created.error is None and "KeyError: 'RANK'" in created.stderr
    fine = await shell.run("%submarine run --dry-run --workers 2 -- true")
    assert fine.error is None and fine.stderr == ""


async def test_compare_selects_by_id_prefix_or_status_and_says_what_is_wrong(
    shell: Shell, client: SubmarineClient
) -> None:
    nothing = await shell.run("%submarine compare")
    assert nothing.stderr.strip() == "UsageError: no experiment to compare (none exists)"
    gone = await shell.run("%submarine compare experiment_1_9999")
    assert gone.stderr.strip() == "UsageError: Not found experiment. (404)"
    runs = [("cmp-a", 'echo "step=1 loss=0.5"'), ("cmp-b", 'echo "step=1 loss=0.25"'), ("other", "true")]
    done = [await asyncio.to_thread(client.create, job_spec(name, cmd)) for name, cmd in runs]
    for created in done:
        await asyncio.to_thread(client.wait, created["experimentId"], 60)
    for created in done[:2]:  # collection may end a moment after the experiment
        await poll_until(lambda c=created: bool(client.metrics(c["experimentId"])["series"]))

    result = await shell.run("%submarine compare --prefix cmp- --status succeeded -o cmp")
    assert result.error is None, result.stderr
    ids = [created["experimentId"].rsplit("_", 1)[1] for created in done]
    assert result.stdout.splitlines() == [
        "loss by run", f"  cmp-a #{ids[0]}: 1 points, last 0.5 at step 1", f"  cmp-b #{ids[1]}: 1 points, last 0.25 at step 1"
    ]
    [table] = result.outputs
    header, _, *rows = table["text/plain"].splitlines()
    assert header.split() == ["experimentId", "name", "status", "duration", "cmd", "loss.last", "loss.min", "loss.max"]
    assert [row.split()[1] for row in rows] == ["cmp-a", "cmp-b"] and rows[1].split()[-3:] == ["0.25"] * 3
    assert ">Succeeded</span>" in table["text/html"]
    assert [e["name"] for e in shell.ns["cmp"].experiments] == ["cmp-a", "cmp-b"]
    none = await shell.run("%submarine compare --prefix cmp- --status failed")
    assert none.stderr.strip() == "UsageError: no experiment to compare (name cmp-*, Failed)"
    by_id = await shell.run(f"%submarine compare {done[2]['experimentId']} {done[0]['experimentId']} --metric acc")
    assert by_id.stdout.strip() == "No run reported acc."
    assert [line.split()[1] for line in by_id.outputs[0]["text/plain"].splitlines()[2:]] == ["other", "cmp-a"]


async def test_list_shows_a_coloured_table(shell: Shell, client: SubmarineClient) -> None:
    empty = await shell.run("%submarine list")
    assert empty.outputs == [{"text/html": "<i>No experiments.</i>", "text/plain": "No experiments."}]
    done = await asyncio.to_thread(client.create, job_spec("listed", "true"))
    await asyncio.to_thread(client.wait, done["experimentId"], 60)
    result = await shell.run("%submarine list")
    [table] = result.outputs
    assert "background:#2e7d32" in table["text/html"] and ">Succeeded</span>" in table["text/html"]
    header, rule, row = table["text/plain"].splitlines()
    assert set(rule) == {"-", " "}
    assert header.split() == ["ID", "NAME", "STATUS", "TARGET", "FRAMEWORK", "ROLES", "ELAPSED"]
    assert row.split()[:7] == [done["experimentId"], "listed", "Succeeded", done["target"], "PyTorch", "Master", "x1,"]
    filtered = await shell.run("%submarine list --status running")
    assert filtered.outputs[0]["text/plain"] == "No experiments."


@pytest.mark.parametrize("backend_config", ["local", "kubernetes"], indirect=True)  # patches a running job, which Trainer v2 refuses (409: test_api_both_backends)
async def test_get_logs_patch_delete(shell: Shell, client: SubmarineClient) -> None:
    long_cmd = 'echo "hello $RANK"; sleep 30'
    created = await asyncio.to_thread(client.create, job_spec("ops", long_cmd, 2))
    experiment_id = created["experimentId"]

    running = await shell.run(f"%submarine wait {experiment_id} --until running --timeout 60")
    assert running.stdout.strip() == f"{experiment_id} Running"
    got = await shell.run(f"%submarine get {experiment_id} -o g")
    assert got.stdout.startswith(f"ops ({experiment_id}): ") and shell.ns["g"]["name"] == "ops"
    watched = await shell.run(f"%submarine watch {experiment_id}")
    assert watched.stdout.startswith(f"ops ({experiment_id}): Running, elapsed ")
    assert "master-0  Running" in watched.stdout

    for replica in ("master-0", "worker-0", "worker-1"):  # until each has printed
        lines = await asyncio.to_thread(client.logs, experiment_id, follow=True, replica=replica)
        await asyncio.to_thread(next, lines)
        lines.close()
    one = await shell.run(f"%submarine logs {experiment_id} --replica worker-1 --tail 1")
    assert one.stdout.strip() == "[worker-1] hello 2"
    every = await shell.run(f"%submarine logs {experiment_id}")
    assert every.stdout.splitlines() == ["[master-0] hello 0", "[worker-0] hello 1", "[worker-1] hello 2"]

    patched = await shell.run(f"%submarine patch {experiment_id} --workers 3 --env EXTRA=1 -o p")
    assert patched.stdout.strip() == f"Patched {experiment_id}: Master x1, Worker x3"
    assert shell.ns["p"]["meta"]["envVars"] == {"EXTRA": "1"}
    nothing = await shell.run(f"%submarine patch {experiment_id}")
    assert "nothing to change" in nothing.stderr

    timeout = await shell.run(f"%submarine wait {experiment_id} --timeout 0.5")
    assert isinstance(timeout.error, UsageError) and "after 0.5 s" in timeout.stderr

    deleted = await shell.run(f"%submarine delete {experiment_id}")
    assert deleted.stdout.strip() == f"Deleted {experiment_id} (ops)."
    for command in ("get", "logs", "delete", "watch", "wait", "patch"):
        gone = await shell.run(f"%submarine {command} {experiment_id}" + (" --workers 1" if command == "patch" else ""))
        assert isinstance(gone.error, UsageError), command
        assert gone.stderr.strip() == "UsageError: Not found experiment. (404)", command


async def test_logs_follow(shell: Shell, client: SubmarineClient) -> None:
    created = await asyncio.to_thread(client.create, job_spec("follow", STEPS_CMD, 2))
    result = await shell.run(f"%submarine logs {created['experimentId']} -f --replica worker-0")
    assert result.stdout.splitlines() == [f"[worker-0] step {i} of rank 1/3" for i in (1, 2, 3)]


async def test_environments(shell: Shell) -> None:
    created = await shell.run(
        "%submarine env create tiny --image python:3.11-slim --description 'small one' --pip numpy"
    )
    assert created.stdout.startswith("Created environment tiny (")
    from_cell = await shell.run("%%submarine env create\nname: other\ndockerImage: busybox\n")
    assert from_cell.stdout.startswith("Created environment other (")
    listed = await shell.run("%submarine env list -o envs")
    assert listed.stdout.splitlines()[0].split() == ["NAME", "IMAGE", "DESCRIPTION"]
    assert "tiny   python:3.11-slim  small one" in listed.stdout
    assert sorted(e["environmentSpec"]["name"] for e in shell.ns["envs"]) == ["other", "tiny"]
    got = await shell.run("%submarine env get tiny")
    assert json.loads(got.stdout)["environmentSpec"]["kernelSpec"]["pipDependencies"] == ["numpy"]
    assert (await shell.run("%submarine env delete tiny")).stdout.strip() == "Deleted environment tiny."
    missing = await shell.run("%submarine env get tiny")
    assert missing.stderr.strip() == "UsageError: Environment not found. (404)"
    bad = await shell.run("%submarine env create 'bad name' --image x")
    assert isinstance(bad.error, UsageError) and "(400)" in bad.stderr


# -- in a real kernel -------------------------------------------------------------------


async def test_in_a_kernel_widget_updates_flow_and_interrupt_only_stops_waiting(
    server_env: dict[str, str], client: SubmarineClient, tmp_path: Path
) -> None:
    manager = AsyncKernelManager(kernel_name="python3")
    await manager.start_kernel(cwd=str(tmp_path))
    kernel = manager.client()
    kernel.start_channels()
    try:
        await kernel.wait_for_ready(timeout=60)

        async def execute(code: str, on_message: Any = None) -> list[dict[str, Any]]:
            msg_id = kernel.execute(code)
            messages = []
            while True:
                message = await kernel.get_iopub_msg(timeout=60)
                messages.append(message)
                if on_message is not None:
                    await on_message(message)
                if (message["parent_header"].get("msg_id") == msg_id
                        and message["msg_type"] == "status"
                        and message["content"]["execution_state"] == "idle"):
                    return messages

        def stdout(messages: list[dict[str, Any]]) -> str:
            return "".join(m["content"]["text"] for m in messages if m["msg_type"] == "stream")

        shown = await execute("%load_ext submarine_jupyter\n%submarine run --name bg -- sleep 60")
        [display] = [m for m in shown if m["msg_type"] == "display_data"]
        assert "application/vnd.jupyter.widget-view+json" in display["content"]["data"]
        assert display["content"]["data"]["text/plain"].startswith("bg (experiment_")

        busy = await execute("import time; time.sleep(3)")  # the widget's thread keeps going
        updates = [m for m in busy if m["msg_type"] == "comm_msg"
                   and m["content"]["data"].get("method") == "update"]
        assert len(updates) >= 2

        interrupted = False

        async def interrupt_when_started(message: dict[str, Any]) -> None:
            nonlocal interrupted
            if (not interrupted and message["msg_type"] == "stream"
                    and "[master-0] started" in message["content"]["text"]):
                interrupted = True
                await manager.interrupt_kernel()

        waited = await execute(
            "%submarine run --wait --name fg -o fg -- echo started; sleep 60", interrupt_when_started
        )
        assert interrupted
        assert "Stopped waiting; experiment_" in stdout(waited)
        assert not [m for m in waited if m["msg_type"] == "error"]
        statuses = {e["name"]: e["status"] for e in await asyncio.to_thread(client.list)}
        assert statuses == {"bg": "Running", "fg": "Running"}
    finally:
        kernel.stop_channels()
        await manager.shutdown_kernel(now=True)
