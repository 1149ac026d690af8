"""The example notebooks, executed by a real kernel (nbclient) against the in-process server."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

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
