"""``%submarine targets``, ``run --target``, ``list --target`` and ``promote ID --to NAME``
through IPython against an in-process server with two targets: local and a Trainer v2 cluster."""

from __future__ import annotations

import asyncio
from pathlib import Path

from submarine_jupyter.kernel.client import SubmarineClient
from tests.kernel_helpers import Shell
from tests.test_targets import printing, submarine_config, torch

__all__ = ["submarine_config"]  # the two-target server of test_targets


async def test_targets_table_and_list_by_target(shell: Shell, client: SubmarineClient) -> None:
    listed = await shell.run("%submarine targets -o found")
    [table] = listed.outputs
    header, _, *rows = table["text/plain"].splitlines()
    assert header.split() == ["TARGET", "BACKEND", "API", "REACHABLE", "NAMESPACE", "CAPACITY"]
    assert [row.split()[:4] for row in rows] == [["local", "*", "local", "yes"], ["gpu", "kubernetes", "trainer", "yes"]]
    assert [t["name"] for t in shell.ns["found"]] == ["local", "gpu"]

    ran = await shell.run("%submarine run --target gpu --workers 1 --wait -o there -- true")
    assert ran.error is None, ran.text()
    assert (shell.ns["there"]["target"], shell.ns["there"]["status"]) == ("gpu", "Succeeded")
    here = await asyncio.to_thread(client.create, torch("true"))
    on_gpu = await shell.run("%submarine list --target gpu -o on_gpu")
    assert [e["experimentId"] for e in shell.ns["on_gpu"]] == [shell.ns["there"]["experimentId"]]
    assert on_gpu.outputs[0]["text/plain"].splitlines()[2].split()[3] == "gpu"
    await asyncio.to_thread(client.wait, here["experimentId"], 60)


async def test_promote_prints_the_manifest_then_submits_and_dry_run_only_prints(
        shell: Shell, client: SubmarineClient, tmp_path: Path) -> None:
    local = await asyncio.to_thread(client.create, torch(printing(tmp_path, "rank=$RANK")))
    await asyncio.to_thread(client.wait, local["experimentId"], 60)
    planned = await shell.run(f"%submarine promote {local['experimentId']} --to gpu --workers 2 --dry-run -o plan")
    assert planned.error is None, planned.text()
    assert planned.stdout.startswith(f"{local['experimentId']} on target gpu (kubernetes) submits:\n")
    assert "kind: TrainJob" in planned.stdout and "numNodes: 3" in planned.stdout
    assert planned.stdout.rstrip().endswith("Dry run: nothing was submitted.")
    assert shell.ns["plan"]["dryRun"] is True and len(await asyncio.to_thread(client.list)) == 1

    promoted = await shell.run(f"%submarine promote {local['experimentId']} --to gpu --workers 2 --wait -o new")
    assert promoted.error is None, promoted.text()
    new = shell.ns["new"]
    assert (new["experimentId"] != local["experimentId"], new["target"]) == (True, "gpu")
    assert f"Promoted {local['experimentId']} (local) to gpu as" in promoted.stdout
    assert new["status"] == "Succeeded" and new["rerunOf"] == local["experimentId"]
    logs = await asyncio.to_thread(client.logs, new["experimentId"])
    assert sorted(logs.values()) == [f"rank={r}\n" for r in range(3)]

    refused = await shell.run(f"%submarine promote {local['experimentId']} --to nowhere")
    assert str(refused.error) == "meta.target: this server has no target 'nowhere' (its targets: local, gpu) (400)"
