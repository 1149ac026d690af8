"""The local backend: experiments as process groups on this machine.

- ``backend``: ``LocalBackend``, its settings and the Backend protocol;
- ``admission``, ``capacity``: the fair queue over cpu, memory and GPUs;
- ``plan``: replicas, commands, environments and logs (dry run and launch alike);
- ``operator_env``: the training-operator's environment contract, pure;
- ``supervisor``, ``processes``, ``outcome``: spawn, watch, restart, stop, and the verdict;
- ``run``, ``state``: a run in memory, and what of it survives a server restart;
- log files (snapshot, tail, follow by byte offsets) are ``backends.logfiles`` and
  ``backends.logfollow``, which the Kubernetes backend uses too for the logs it keeps.
"""

from .backend import LocalBackend

__all__ = ["LocalBackend"]
