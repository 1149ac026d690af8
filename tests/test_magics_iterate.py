"""``%submarine stop|rerun|template|sweep`` and ``run --template``, ``compare --sweep``, and
``patch`` after the end, through IPython's InteractiveShell against the in-process server."""

from __future__ import annotations

import asyncio
import re

import pytest
from IPython.core.error import UsageError

from submarine_jupyter.kernel.client import SubmarineClient
from submarine_jupyter.kernel.spec_builder import patch_paths, rerun_changes
from submarine_jupyter.kernel.sweep_magics import (
    build_sweep_spec,
    default_sweep_name,
    expand_shorthand,
    parse_objective,
)
from tests.kernel_helpers import Shell, job_spec

# Prints its lr as the loss: the trial with the smallest lr is the best one.
TEMPLATE = """\
name: echo-loss
author: tests
description: prints its lr as the loss
parameters:
  - name: lr
    value: 0.5
    description: the learning rate
  - name: seconds
    value: 0
experimentSpec:
  meta:
    name: echo-loss
    framework: PyTorch
    cmd: 'echo "step=1 loss={{lr}}"; sleep {{seconds}}'
  spec:
    Master:
      replicas: 1
      resources: cpu=0.1,memory=64M
"""


# -- pure: merge patches and sweep specs --------------------------------------------------


def test_rerun_changes_are_a_merge_patch_of_what_was_given() -> None:
    spec = job_spec("orig", "true", workers=2)
    assert rerun_changes(spec) == {}
    changes = rerun_changes(spec, workers=3, env={"LR": "0.01"}, cmd="python t.py", name="again")
    assert changes == {"meta": {"cmd": "python t.py", "name": "again", "envVars": {"LR": "0.01"}},
                       "spec": {"Worker": {"replicas": 3}}}
    assert rerun_changes(spec, workers=0, resources="cpu=1") == {
        "spec": {"Worker": None, "Master": {"resources": "cpu=1"}}}
    assert rerun_changes({"spec": {"Master": {}}}, ps=1, resources="cpu=1")["spec"] == {
        "Master": {"resources": "cpu=1"}, "Ps": {"replicas": 1, "resources": "cpu=1"}}
    assert rerun_changes({"environment": {"name": "env"}}, image="img") == {"environment": {"image": "img", "name": None}}
    assert rerun_changes({"environment": {"image": "a"}}, image="b") == {"environment": {"image": "b"}}
    assert patch_paths({"meta": {"envVars": {"LR": "0.01"}}, "spec": {"Worker": None}}) == [
        "meta.envVars.LR=0.01", "spec.Worker removed"]


def test_sweep_specs_from_flags() -> None:
    assert build_sweep_spec("t", grid=["lr=0.1, 0.01", "batch=32,64"], params=["steps=10"], parallel=2,
                            objective="loss:min", name="s") == {
        "name": "s", "template": "t", "params": {"steps": "10"},
        "grid": {"lr": ["0.1", "0.01"], "batch": ["32", "64"]}, "parallel": 2,
        "objective": {"metric": "loss", "goal": "min"}}
    assert build_sweep_spec("t", random=4, params=["lr=loguniform(1e-4,1e-1)", "steps=10"], seed=3, name="r") == {
        "name": "r", "template": "t", "params": {"steps": "10"},
        "random": {"count": 4, "params": {"lr": "loguniform(1e-4,1e-1)"}, "seed": 3}}
    with pytest.raises(ValueError, match=r"a distribution needs --random N \(a grid takes --grid lr=A,B\)"):
        build_sweep_spec("t", grid=["b=1"], params=["lr=uniform(0,1)"])
    with pytest.raises(ValueError, match="--seed needs --random N"):
        build_sweep_spec("t", grid=["b=1"], seed=1)
    assert parse_objective("acc:max") == {"metric": "acc", "goal": "max"}
    assert parse_objective("val:loss:min") == {"metric": "val:loss", "goal": "min"}
    assert parse_objective("loss") == {"metric": "loss"}
    with pytest.raises(ValueError, match="expected METRIC, METRIC:min or METRIC:max"):
        parse_objective("loss:best")
    assert re.fullmatch(r"tf-mnist-test-1-[0-9a-f]{6}", default_sweep_name("tf-mnist-test_1"))
    assert re.fullmatch(r"sweep-[0-9a-f]{6}", default_sweep_name("___"))
    assert len(default_sweep_name("x" * 200)) <= 63
    assert expand_shorthand(["sweep", "train", "--grid", "a=1"]) == ["sweep", "create", "train", "--grid", "a=1"]
    for words in (["sweep", "status", "s"], ["sweep", "--help"], ["sweep"], ["run", "train"]):
        assert expand_shorthand(words) == words


# -- parsing and help (no server needed) ---------------------------------------------------


@pytest.fixture
def bare_shell(monkeypatch: pytest.MonkeyPatch) -> Shell:
    monkeypatch.setenv("SUBMARINE_JUPYTER_URL", "http://127.0.0.1:9/")
    return Shell()


def test_help(bare_shell: Shell) -> None:
    top = bare_shell.run_sync("%submarine --help").stdout
    for command in ("stop", "rerun", "template", "sweep"):
        assert f"\n    {command} " in top
    expected = {
        "stop": ["ID", "-o VAR", "logs and metrics are kept"],
        "rerun": ["--workers N", "--ps N", "--resources", "--env K=V", "--image IMAGE", "--cmd CMD", "--name NAME",
                  "--wait, --no-wait", "--chart METRIC", "0 drops the Worker role"],
        "template": ["create", "list", "get", "delete"],
        "template create": ["FILE", "--replace", "%%submarine template create"],
        "template get": ["NAME", "-o VAR"],
        "sweep": ["create", "status", "list", "stop", "%submarine sweep TEMPLATE"],
        "sweep create": ["TEMPLATE", "--grid P=V1,V2", "--random N", "--param P=V", "--seed S", "--parallel K",
                         "--objective METRIC[:min|max]", "--name NAME", "--wait", "loguniform(a,b)"],
        "sweep train": ["--grid P=V1,V2"],  # the shorthand's help is create's
        "sweep status": ["NAME", "--wait", "best first"],
        "sweep stop": ["NAME"],
        "run": ["--template NAME", "--param K=V", "spec.Worker.replicas=N"],
        "compare": ["--sweep NAME"],
    }
    for command, texts in expected.items():
        result = bare_shell.run_sync(f"%submarine {command} --help")
        assert result.error is None, command
        for text in texts:
            assert text in result.stdout, (command, text)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("%submarine stop", "the following arguments are required: ID"),
        ("%submarine stop x -- y", "takes no command after --"),
        ("%submarine rerun x --workers -1", "must be 0 or more"),
        ("%submarine rerun x --cmd a -- b", "give the new command with --cmd or after --, not both"),
        ("%submarine rerun x --env NOEQUALS", "--env 'NOEQUALS': expected KEY=VALUE"),
        ("%%submarine rerun x\nbody", "takes no cell body"),
        ("%submarine template", "required: ACTION"),
        ("%submarine template create", "give a template FILE"),
        ("%submarine template create /no/such.yaml", "No such file or directory: /no/such.yaml"),
        ("%submarine template get", "required: NAME"),
        ("%%submarine template list\nbody", "takes no cell body"),
        ("%submarine run --template t --workers 2 --env A=1", "--workers, --env cannot be given"),
        ("%submarine run --template t -- echo hi", "a command after -- cannot be given"),
        ("%%submarine run --template t\nprint(1)", "a cell body cannot be given"),
        ("%submarine run --template t --param noequals", "--param 'noequals': expected KEY=VALUE"),
        ("%submarine run --param a=1 -- true", "--param sets a template's parameters: give --template NAME"),
        ("%submarine sweep", "required: ACTION"),
        ("%submarine sweep train", "one of the arguments --grid --random is required"),
        ("%submarine sweep train --grid a=1 --random 2", "not allowed with argument"),
        ("%submarine sweep train --grid a=1 --param 'lr=loguniform(1e-4,1e-1)'", "a distribution needs --random N"),
        ("%submarine sweep train --random 0", "must be 1 or more"),
        ("%submarine sweep train --grid a=1 --parallel x", "'x' is not a whole number"),
        ("%submarine sweep train --grid a=1 --objective loss:best", "expected METRIC, METRIC:min or METRIC:max"),
        ("%submarine sweep train --grid a=1 --seed 3", "--seed needs --random N"),
        ("%submarine sweep train --grid noequals", "--grid 'noequals': expected KEY=VALUE"),
        ("%submarine sweep status", "required: NAME"),
        ("%submarine sweep bogus-action-only", "one of the arguments --grid --random is required"),
        ("%submarine compare x --sweep s", "give experiment ids or a sweep, not both"),
    ],
)
def test_user_mistakes_are_one_line_usage_errors(bare_shell: Shell, line: str, message: str) -> None:
    result = bare_shell.run_sync(line)
    assert isinstance(result.error, UsageError)
    assert message in result.stderr
    assert result.stderr.startswith("UsageError: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.text()


# -- against the in-process server ---------------------------------------------------------


async def test_stop_keeps_the_run_and_rerun_records_its_origin(shell: Shell, client: SubmarineClient) -> None:
    spec = job_spec("iter", 'echo "rank $RANK lr=$LR"; sleep $NAP', 1)
    spec["meta"]["envVars"] = {"NAP": "30", "LR": "0.1"}
    created = await asyncio.to_thread(client.create, spec)
    experiment_id = created["experimentId"]
    await asyncio.to_thread(client.wait, experiment_id, 60, until=["Running"])
    stopped = await shell.run(f"%submarine stop {experiment_id} -o st")
    assert stopped.stdout.strip() == (
        f"Stopped {experiment_id} (iter): its record, logs and metrics are kept "
        f"(%submarine rerun {experiment_id} runs it again)."
    )
    assert shell.ns["st"]["status"] == "Stopped"
    again = await shell.run(f"%submarine stop {experiment_id}")
    assert again.stderr.strip() == (
        f"UsageError: {experiment_id} has already ended (Stopped): there is nothing to stop (409)")
    assert (await asyncio.to_thread(client.get, experiment_id))["status"] == "Stopped"  # kept

    rerun = await shell.run(
        f"%submarine rerun {experiment_id} --workers 0 --env LR=0.01 --env NAP=0 --name iter-again --wait -o re")
    assert rerun.error is None, rerun.stderr
    new_id = shell.ns["re"]["experimentId"]
    lines = rerun.stdout.splitlines()
    assert lines[0] == (f"Re-running {experiment_id} as {new_id} (iter-again) from its spec, changed: "
                        "meta.name=iter-again, meta.envVars.LR=0.01, meta.envVars.NAP=0, spec.Worker removed")
    assert "[master-0] rank 0 lr=0.01" in lines  # only the Master runs now, with the new variable
    assert not [line for line in lines if line.startswith("[worker-")]
    assert lines[-1] == f"{new_id} Succeeded"
    done = await asyncio.to_thread(client.get, new_id)
    assert done["rerunOf"] == experiment_id and list(done["spec"]["spec"]) == ["Master"]
    assert (await asyncio.to_thread(client.get, experiment_id))["reruns"] == [new_id]

    # the detail views show the lineage both ways
    original = await shell.run(f"%submarine get {experiment_id}")
    assert original.stdout.splitlines()[1] == f"  re-run as {new_id}"
    copy = await shell.run(f"%submarine get {new_id}")
    assert copy.stdout.splitlines()[1] == f"  re-run of {experiment_id}"
    plain = await shell.run(f"%submarine rerun {new_id} -- echo other")
    assert plain.stdout.splitlines()[0].endswith("from its spec, changed: meta.cmd=echo other")


async def test_patch_after_the_end_says_nothing_ran_and_rerun_runs_it(shell: Shell, client: SubmarineClient) -> None:
    created = await asyncio.to_thread(client.create, job_spec("ended", "true", 1))
    experiment_id = created["experimentId"]
    await asyncio.to_thread(client.wait, experiment_id, 60)
    patched = await shell.run(f"%submarine patch {experiment_id} --workers 3 -o p")
    assert patched.error is None, patched.stderr
    assert patched.stdout.strip() == (
        f"Recorded a new spec for {experiment_id} (Master x1, Worker x3), but it has ended (Succeeded): nothing "
        f"was re-run, and it still shows the spec that ran (Master x1, Worker x1). %submarine rerun {experiment_id} "
        "runs the new spec."
    )
    assert shell.ns["p"]["spec"]["Worker"]["replicas"] == 3
    listed = await shell.run("%submarine list")
    assert "Master x1, Worker x1" in listed.outputs[0]["text/plain"]  # what ran, not what was recorded
    shown = await shell.run(f"%submarine get {experiment_id}")
    assert (f"  a new spec (Master x1, Worker x3) was recorded after it ended and has not run; "
            f"%submarine rerun {experiment_id} runs it") in shown.stdout.splitlines()
    # a second patch starts from the recorded spec, not from the one that ran
    await shell.run(f"%submarine patch {experiment_id} --env A=1")
    pending = (await asyncio.to_thread(client.get, experiment_id))["pendingSpec"]
    assert pending["spec"]["Worker"]["replicas"] == 3 and pending["meta"]["envVars"] == {"A": "1"}

    rerun = await shell.run(f"%submarine rerun {experiment_id} -o re")
    assert rerun.stdout.splitlines()[0] == (
        f"Re-running {experiment_id} as {shell.ns['re']['experimentId']} (ended) from the spec recorded after it "
        "ended, unchanged")
    assert shell.ns["re"]["spec"]["spec"]["Worker"]["replicas"] == 3


async def test_templates_create_list_get_run_and_delete(shell: Shell, client: SubmarineClient) -> None:
    created = await shell.run(f"%%submarine template create -o t\n{TEMPLATE}")
    assert created.error is None, created.stderr
    assert re.fullmatch(r"Created template echo-loss \(experimentTemplate_\d+_\d+\); parameters: lr=0.5, seconds=0",
                        created.stdout.strip())
    assert shell.ns["t"]["experimentTemplateSpec"]["author"] == "tests"
    twice = await shell.run(f"%%submarine template create\n{TEMPLATE}")
    assert twice.stderr.strip() == "UsageError: name: template 'echo-loss' already exists (409)"
    replaced = await shell.run(f"%%submarine template create --replace\n{TEMPLATE.replace('value: 0.5', 'value: 0.25')}")
    assert replaced.stdout.startswith("Replaced template echo-loss (") and "lr=0.25" in replaced.stdout

    listed = await shell.run("%submarine template list -o ts")
    assert listed.stdout.splitlines()[0].split() == ["NAME", "PARAMETERS", "AUTHOR", "DESCRIPTION"]
    assert listed.stdout.splitlines()[2].split() == ["echo-loss", "lr=0.25,", "seconds=0", "tests", "prints", "its",
                                                     "lr", "as", "the", "loss"]
    assert [t["experimentTemplateSpec"]["name"] for t in shell.ns["ts"]] == ["echo-loss"]
    got = (await shell.run("%submarine template get echo-loss")).stdout.splitlines()
    assert re.fullmatch(r"echo-loss \(experimentTemplate_\d+_\d+\)", got[0]) and got[1] == "author: tests"
    assert got[3].split() == ["PARAMETER", "DEFAULT", "REQUIRED", "DESCRIPTION"]
    assert got[5].split() == ["lr", "0.25", "the", "learning", "rate"]
    assert "spec.Master.replicas" in "\n".join(got) and "  meta:" in got[got.index("experimentSpec:") + 1]

    ran = await shell.run("%submarine run --template echo-loss --param lr=0.125 --param spec.Master.resourceMap.cpu=0.2 "
                          "--wait -o r")
    assert ran.error is None, ran.stderr
    assert "[master-0] step=1 loss=0.125" in ran.stdout.splitlines()
    assert shell.ns["r"]["template"] == "echo-loss" and shell.ns["r"]["status"] == "Succeeded"
    assert shell.ns["r"]["spec"]["spec"]["Master"]["resources"] == "cpu=0.2,memory=64M"
    shown = await shell.run(f"%submarine get {shell.ns['r']['experimentId']}")
    assert shown.stdout.splitlines()[1] == "  from template echo-loss"
    bad = await shell.run("%submarine run --template echo-loss --param nope=1")
    assert bad.stderr.startswith("UsageError: ") and bad.stderr.count("\n") == 1
    assert "Parameters contains illegal key: ['nope']" in bad.stderr and "(400)" in bad.stderr

    assert (await shell.run("%submarine template delete echo-loss")).stdout.strip() == "Deleted template echo-loss."
    for line in ("%submarine template get echo-loss", "%submarine run --template echo-loss"):
        gone = await shell.run(line)
        assert gone.stderr.strip() == "UsageError: ExperimentTemplate not found. (404)", line
    assert (await shell.run("%submarine template list")).stdout.strip() == "No templates."


async def test_a_grid_sweep_its_status_list_and_comparison(shell: Shell, client: SubmarineClient) -> None:
    await asyncio.to_thread(client.create_template, TEMPLATE)
    started = await shell.run("%submarine sweep echo-loss --grid lr=0.5,0.125,0.25 --parallel 2 --objective loss:min "
                              "--name grid --wait -o sw")
    assert started.error is None, started.stderr
    lines = started.stdout.splitlines()
    assert lines[0] == "Started sweep grid: 3 trials of template echo-loss, 2 at a time."
    assert lines[1] == ("grid: Succeeded; template echo-loss, 3 of 3 trials ended, 2 at a time, objective loss (min)")
    final = shell.ns["sw"]
    by_index = {t["index"]: t for t in final["trials"]}
    assert lines[2] == f"best: #1 lr=0.125, loss 0.125 ({by_index[1]['experimentId']})"
    assert lines[3].split() == ["TRIAL", "lr", "STATUS", "loss", "EXPERIMENT"]
    rows = [line.split() for line in lines[5:]]
    assert rows == [[str(i), lr, "Succeeded", lr, by_index[i]["experimentId"]]
                    for i, lr in ((1, "0.125"), (2, "0.25"), (0, "0.5"))]

    status = await shell.run("%submarine sweep status grid")
    assert status.stdout.splitlines() == lines[1:]
    listed = await shell.run("%submarine sweep list -o sweeps")
    [table] = listed.outputs
    assert table["text/plain"].splitlines()[0].split() == ["NAME", "TEMPLATE", "STATUS", "TRIALS", "BEST"]
    assert table["text/plain"].splitlines()[2].split() == ["grid", "echo-loss", "Succeeded", "3", "of", "3", "trials",
                                                           "ended", "#1", "lr=0.125", "0.125"]
    assert ">Succeeded</span>" in table["text/html"] and [s["name"] for s in shell.ns["sweeps"]] == ["grid"]

    compared = await shell.run("%submarine compare --sweep grid --metric loss -o cmp")
    assert compared.error is None, compared.stderr
    assert compared.stdout.splitlines() == [
        "loss by run", "  #1 lr=0.125: 1 points, last 0.125 at step 1", "  #2 lr=0.25: 1 points, last 0.25 at step 1",
        "  #0 lr=0.5: 1 points, last 0.5 at step 1"]
    header, _, *table_rows = compared.outputs[0]["text/plain"].splitlines()
    assert header.split()[:7] == ["experimentId", "name", "status", "duration", "trial", "trial.lr", "objective"]
    assert [row.split()[4:7] for row in table_rows] == [["1", "0.125", "0.125"], ["2", "0.25", "0.25"],
                                                        ["0", "0.5", "0.5"]]
    assert [e["sweep"] for e in shell.ns["cmp"].experiments] == ["grid"] * 3
    stop_ended = await shell.run("%submarine sweep stop grid")
    assert stop_ended.stdout.strip() == "Sweep grid has already ended (Succeeded): nothing was stopped."
    missing = await shell.run("%submarine sweep status nope")
    assert missing.stderr.strip() == "UsageError: Sweep not found. (404)"


async def test_stopping_a_sweep_and_a_random_one(shell: Shell, client: SubmarineClient) -> None:
    await asyncio.to_thread(client.create_template, TEMPLATE)
    started = await shell.run("%submarine sweep echo-loss --grid lr=1,2,3 --param seconds=30 -o long")
    assert started.error is None, started.stderr
    name = shell.ns["long"]["name"]
    assert re.fullmatch(r"echo-loss-[0-9a-f]{6}", name)
    assert started.stdout.splitlines()[0] == f"Started sweep {name}: 3 trials of template echo-loss, 1 at a time."
    assert [t["status"] for t in shell.ns["long"]["trials"]][1:] == ["Waiting", "Waiting"]
    first = shell.ns["long"]["trials"][0]["experimentId"]
    await asyncio.to_thread(client.wait, first, 60, until=["Running"])
    stopped = await shell.run(f"%submarine sweep stop {name} -o st")
    assert stopped.stdout.strip() == f"Stopped sweep {name}: 1 started trials stopped (kept), 2 waiting never run."
    assert shell.ns["st"]["status"] == "Stopped"
    assert (await asyncio.to_thread(client.get, first))["status"] == "Stopped"

    drawn = await shell.run("%submarine sweep echo-loss --random 2 --param 'lr=uniform(0.1,0.2)' --seed 5 "
                            "--objective loss --name drawn --parallel 2 --wait -o r")
    assert drawn.error is None, drawn.stderr
    trials = shell.ns["r"]["trials"]
    assert all(0.1 <= float(t["params"]["lr"]) <= 0.2 and t["status"] == "Succeeded" for t in trials)
    assert [t["objective"] for t in trials] == sorted(float(t["params"]["lr"]) for t in trials)
