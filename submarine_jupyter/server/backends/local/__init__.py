"""The local backend: experiments as process groups on this machine.

- ``backend``: ``LocalBackend``, its settings and the Backend protocol;
- ``admission``, ``capacity``: the fair queue over cpu, memory and GPUs;
- ``plan``: replicas, commands, environments and logs (dry run and launch alike);
- ``operator_env``: the training-operator's environment contract, pure;
- ``supervisor``, ``processes``, ``outcome``: spawn, watch, restart, stop, and the verdict;
- ``run``, ``state``: a run in memory, and what of it survives a server restart;
- ``logs``: log files, snapshot and tail;
- ``follow``: new complete lines as they are written, resumable at byte offsets.
"""

from .backend import LocalBackend

__all__ = ["LocalBackend"]
