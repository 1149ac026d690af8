"""The example notebooks, executed by a real kernel (nbclient) against the in-process server."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

from submarine_jupyter.kernel.client import SubmarineClient
from tests.kernel_helpers import poll_until

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
WIDGET = "application/vnd.jupyter.widget-view+json"


async def run_notebook(name: str, workdir: Path) -> Any:
    """Run a notebook from ``workdir`` (the kernel's cwd); return it, outputs and widget state in."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    runner = NotebookClient(
        notebook, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
    )
    await runner.async_execute()
    return notebook


async def execute(name: str, workdir: Path) -> list[Any]:
    """Run a notebook from ``workdir`` (the kernel's cwd); return its code cells."""
    notebook = await run_notebook(name, workdir)
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def text(cell: Any) -> str:
    """What a reader sees as text in a cell's outputs."""
    shown = ""
    for output in cell.outputs:
        if output.output_type == "stream":  # one print may arrive in several stream outputs
            shown += output.text
        elif output.output_type in ("display_data", "execute_result"):
            if shown and not shown.endswith("\n"):
                shown += "\n"
            shown += output.data.get("text/plain", "") + "\n"
    return shown


def cell_with(cells: list[Any], source: str) -> Any:
    [cell] = [c for c in cells if source in c.source]
    return cell


async def test_quickstart(server_env: dict[str, str], tmp_path: Path) -> None:
    cells = await execute("quickstart.ipynb", tmp_path)
    assert text(cell_with(cells, "%submarine ping")).startswith("Pong from ")

    launch = cell_with(cells, "--name quickstart")
    [shown] = [o for o in launch.outputs if o.output_type == "display_data"]
    assert WIDGET in shown.data and shown.data["text/plain"].startswith("quickstart (experiment_")
    experiment_id = re.search(r"experiment_\d+_\d+", shown.data["text/plain"])[0]
    assert list((tmp_path / ".submarine").glob("quickstart-*.py"))

    waited = text(cell_with(cells, 'exp_id = exp["experimentId"]'))
    assert waited.strip() == f"{experiment_id} Running"
    listing = cell_with(cells, "%submarine list")
    assert experiment_id in listing.outputs[0].data["text/html"]
    assert "rank 2 of 3" in text(cell_with(cells, 'replica="worker-1"))\nprint(first)'))
    assert re.search(r"^\[worker-1\] ", text(cell_with(cells, "--tail 2")), re.M)
    resized = text(cell_with(cells, "--workers 3"))
    assert f"Patched {experiment_id}: Master x1, Worker x3" in resized
    assert text(cell_with(cells, 'replica="worker-2"')).startswith("rank 3 of 4")
    assert WIDGET in cell_with(cells, "%submarine watch").outputs[0].data
    assert text(cell_with(cells, "%submarine delete")).strip() == f"Deleted {experiment_id} (quickstart)."

    waited = text(cell_with(cells, "--wait --name steps")).splitlines()
    for rank, replica in enumerate(("master-0", "worker-0", "worker-1")):
        assert f"[{replica}] rank {rank}: step 2" in waited
    assert re.fullmatch(r"experiment_\d+_\d+ Succeeded", waited[-1])
    assert "usage: %submarine" in text(cell_with(cells, "%submarine --help"))


async def test_rest_api(server_env: dict[str, str], tmp_path: Path) -> None:
    cells = await execute("rest-api.ipynb", tmp_path)
    assert text(cells[0]).splitlines() == ["SUBMARINE_JUPYTER_URL", "'Pong'"]
    assert re.fullmatch(r"experiment_\d+_\d+ Accepted|experiment_\d+_\d+ Created|experiment_\d+_\d+ Running",
                        text(cell_with(cells, "exp = client.create(spec)")).strip())
    final = text(cell_with(cells, "client.wait(exp_id")).splitlines()
    assert final[0] == "Succeeded"
    assert any(line.endswith("master-0 Succeeded exit code 0") for line in final)
    assert re.search(r"master-0 -> rank 0 of 2", text(cell_with(cells, "client.logs(exp_id).items()")))
    assert re.search(r"-worker-0\] rank 1 of 2", text(cell_with(cells, "follow=True")))
    assert text(cell_with(cells, "dry_run=True")).strip() == "local ['fitsNow', 'replicas', 'workingDir']"
    errors = text(cell_with(cells, "except SubmarineError")).splitlines()
    assert errors[0] == "404 Not found experiment."
    assert errors[1].startswith("400 Invalid experiment spec") and "meta.name" in errors[1]
    assert text(cell_with(cells, "create_environment")).strip() == "['notebook-demo-env']"
    assert text(cell_with(cells, "urllib.request.Request")).strip() == "OK 200 Succeeded"
    assert text(cells[-1]).strip() == "Deleted"


async def test_kubernetes_runs_clean_on_the_local_backend(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    cells = await execute("kubernetes.ipynb", tmp_path)
    assert text(cell_with(cells, "dry = client.create")).strip() == "backend: local"
    plan = text(cell_with(cells, "if dry[\"backend\"]")).splitlines()
    assert plan[0].startswith("This server runs the local backend")
    assert [line.split(" ", 1)[1] for line in plan[1:]] == [
        "RANK 0 of 3", "RANK 1 of 3", "RANK 2 of 3"
    ]
    magic_plan = text(cell_with(cells, "%submarine run --dry-run"))
    assert magic_plan.startswith("Dry run on the local backend (nothing was started):")
    assert "RANK: '2'" in magic_plan
    hello = text(cell_with(cells, "--name k8s-hello")).splitlines()
    assert "[master-0] rank 0 of 2" in hello
    assert re.fullmatch(r"experiment_\d+_\d+ Succeeded", hello[-1])
    promoted = text(cell_with(cells, "%submarine promote")).splitlines()  # no cluster: it re-runs here
    assert re.fullmatch(r"experiment_\d+_\d+ on target local \(local\) submits:", promoted[0])
    assert "[master-0] rank 0 of 2" in promoted and re.fullmatch(r"experiment_\d+_\d+ Succeeded", promoted[-1])
    assert text(cell_with(cells, 'print(there["target"]')).strip() == "local Succeeded re-runs True"


async def test_metrics(server_env: dict[str, str], tmp_path: Path) -> None:
    notebook = await run_notebook("metrics.ipynb", tmp_path)
    cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert text(cell_with(cells, "%submarine ping")).startswith("Pong from ")

    launch = cell_with(cells, "--name ddp-lr-0-05")
    [shown] = [o for o in launch.outputs if o.output_type == "display_data"]
    assert WIDGET in shown.data and shown.data["text/plain"].startswith("ddp-lr-0-05 (experiment_")
    assert text(cell_with(cells, "client.wait(first_id")).strip() == "Succeeded"
    listed = {tuple(line.split()[:3]) for line in text(cell_with(cells, "client.metrics(first_id)")).splitlines()}
    replicas = ("master-0", "worker-0", "worker-1")
    assert {(name, replica, "log") for name in ("loss", "acc") for replica in replicas} <= listed
    points = cell_with(cells, "metrics_frame").outputs[0].data
    assert "<table" in points["text/html"]
    assert points["text/plain"].split()[:6] == ["name", "replica", "source", "step", "value", "time"]
    assert text(cell_with(cells, "--name ddp-lr-0-5 ")).splitlines()[-1] == "Succeeded"

    table = cell_with(cells, "client.compare([first_id").outputs[0].data["text/plain"].splitlines()
    assert table[0].split() == ["arg.lr", "loss.last", "loss.min", "acc.last", "grad_norm.last"]
    rows = [line.split() for line in table[2:]]
    assert [row[:2] for row in rows] == [["ddp-lr-0-05", "0.05"], ["ddp-lr-0-5", "0.5"]]
    assert all(len(row) == 6 and "NaN" not in row for row in rows)  # grad_norm: rank 0's TensorBoard scalar

    compared = cell_with(cells, "%submarine compare")
    chart, listing = [o for o in compared.outputs if o.output_type == "display_data"]
    assert WIDGET in chart.data and chart.data["text/plain"].startswith("loss by run\n  ddp-lr-0-05 #")
    assert "ddp-lr-0-5" in listing.data["text/html"] and "loss.last" in listing.data["text/plain"]
    # the chart was made in its cell with every point, so the notebook's saved widget state holds them
    state = notebook.metadata.widgets["application/vnd.jupyter.widget-state+json"]["state"]
    model_id = chart.data[WIDGET]["model_id"]
    saved = state[model_id]["state"]
    assert state[model_id]["model_name"] == "MetricsChartModel"
    assert [s["steps"] for s in saved["series"]] == [[float(step) for step in range(5, 61, 5)]] * 2

    by_prefix = cell_with(cells, 'prefix="ddp-lr-"').outputs[0].data["text/plain"].splitlines()
    assert by_prefix[0].split() == ["arg.lr", "acc.last", "acc.max"] and len(by_prefix) == 4


async def test_sweep(server_env: dict[str, str], work_dir: Path) -> None:
    """Run from the server's root (the replicas' working directory), as the notebook says."""
    notebook = await run_notebook("sweep.ipynb", work_dir)
    cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    client = SubmarineClient(server_env["SUBMARINE_JUPYTER_URL"], server_env["SUBMARINE_JUPYTER_TOKEN"])
    assert text(cell_with(cells, "%submarine ping")).startswith("Pong from ")
    assert re.match(r"Created template linear-sgd \(experimentTemplate_\d+_\d+\); parameters: lr=0.1, batch=16, "
                    r"steps=40", text(cell_with(cells, "template create")))
    single = text(cell_with(cells, "--template linear-sgd")).splitlines()
    assert "[master-0] step=40 loss=" in single[-2] and re.fullmatch(r"experiment_\d+_\d+ Succeeded", single[-1])

    # four trials, all succeeded, in two waves of two; the best is the one whose loss is lowest
    sweep = await asyncio.to_thread(client.get_sweep, "linear-grid")
    assert sweep["status"] == "Succeeded" and [t["status"] for t in sweep["trials"]] == ["Succeeded"] * 4
    assert sorted((t["params"]["lr"], t["params"]["batch"]) for t in sweep["trials"]) == [
        ("0.01", "32"), ("0.01", "4"), ("0.1", "32"), ("0.1", "4")]
    losses = {}
    for trial in sweep["trials"]:
        metrics = await asyncio.to_thread(client.metrics, trial["experimentId"], name="loss")
        [series] = metrics["series"]
        assert series["steps"][-1] == 40 and series["last"] == trial["objective"]
        losses[trial["index"]] = series["last"]
    assert sweep["best"] == min(losses, key=losses.__getitem__) == sweep["trials"][0]["index"]
    assert [t["objective"] for t in sweep["trials"]] == sorted(losses.values())
    best = sweep["trials"][0]
    swept = cell_with(cells, "--name linear-grid --wait")
    shown = "".join(o.text for o in swept.outputs if o.output_type == "stream").splitlines()
    [view] = [o for o in swept.outputs if o.output_type == "display_data"]
    assert WIDGET in view.data and view.data["text/plain"].startswith("linear-grid: Running; ")
    assert shown[0] == "Started sweep linear-grid: 4 trials of template linear-sgd, 2 at a time."
    assert shown[1] == ("linear-grid: Succeeded; template linear-sgd, 4 of 4 trials ended, 2 at a time, "
                        "objective loss (min)")
    assert shown[2].startswith(f"best: #{best['index']} lr={best['params']['lr']} batch={best['params']['batch']}, loss ")
    # the live view ended showing the final state, which the saved notebook keeps
    state = notebook.metadata.widgets["application/vnd.jupyter.widget-state+json"]["state"]
    tables = [m["state"]["value"] for m in state.values()
              if m["model_name"] == "HTMLModel" and "submarine-table" in m["state"].get("value", "")
              and "TRIAL" in m["state"]["value"]]
    assert tables and all(table.count(">Succeeded</span>") == 4 for table in tables)
    status = text(cell_with(cells, "%submarine sweep status")).splitlines()
    assert status[0] == shown[1]

    compared = cell_with(cells, "%submarine compare --sweep")
    chart, listing = [o for o in compared.outputs if o.output_type == "display_data"]
    assert WIDGET in chart.data and chart.data["text/plain"].splitlines()[1].startswith(
        f"  #{best['index']} lr={best['params']['lr']} batch={best['params']['batch']}: 8 points")
    rows = listing.data["text/plain"].splitlines()
    assert rows[0].split()[4:8] == ["trial", "trial.lr", "trial.batch", "objective"]
    assert [row.split()[4] for row in rows[2:]] == [str(t["index"]) for t in sweep["trials"]]

    # the best trial re-run with more steps records where it came from, both ways
    assert text(cell_with(cells, "best = next(")).startswith(f"best trial #{best['index']}: ")
    rerun = text(cell_with(cells, "%submarine rerun")).splitlines()
    assert rerun[0].startswith(f"Re-running {best['experimentId']} as experiment_")
    assert rerun[0].endswith("from its spec, changed: meta.envVars.STEPS=200")
    assert "[master-0] step=200 loss=" in rerun[-2] and rerun[-1].endswith(" Succeeded")
    longer_id = rerun[-1].split()[0]
    longer = await asyncio.to_thread(client.get, longer_id)
    assert longer["rerunOf"] == best["experimentId"] and longer["template"] == "linear-sgd"
    assert longer["sweep"] is None and longer["spec"]["meta"]["envVars"] == {"STEPS": "200"}
    assert (await asyncio.to_thread(client.get, best["experimentId"]))["reruns"] == [longer_id]
    await poll_until(lambda: not client.metrics(longer_id)["collecting"])
    [series] = (await asyncio.to_thread(client.metrics, longer_id, name="loss"))["series"]
    assert series["steps"][-1] == 200 and series["last"] < best["objective"]  # more steps, a lower loss
    assert text(cell_with(cells, "%submarine get")).splitlines()[1] == (
        f"  re-run of {best['experimentId']}; from template linear-sgd")
