"""Re-adoption: a run a previous server started, taken over from its stored state."""

from __future__ import annotations

from . import processes as proc
from .run import Replica, Run
from .state import RunState
from .supervisor import Supervisor


async def restore(run: Run, state: RunState, supervisor: Supervisor) -> list[Replica]:
    """Give ``run``'s replicas the states, restarts and processes ``state`` recorded: start
    those never started, watch those still alive; the replicas that ended while no server
    watched them, for the caller to report once the run is shown Running."""
    run.phase, run.generation, run.ports = "running", state.generation, state.ports
    ended = []
    for name, rep in run.replicas.items():
        saved = state.replicas.get(name)
        if saved is not None:
            rep.status.state, rep.status.restarts = saved.state, saved.restarts
            rep.status.exit_code, rep.status.message = saved.exit_code, saved.message
            if saved.pid:
                rep.pid = proc.ProcessId(saved.pid, saved.start_ticks)
        if rep.status.state == "Pending":
            await supervisor.spawn(run, rep)
        elif rep.status.state == "Running" and rep.pid and proc.is_alive(rep.pid):
            supervisor.watch_adopted(run, rep)
        elif rep.status.state == "Running":
            ended.append(rep)
    return ended
