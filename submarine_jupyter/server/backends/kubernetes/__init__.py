"""The Kubernetes backend: experiments as Kubeflow training-operator ``kubeflow.org/v1`` jobs.

- ``backend``: ``KubernetesBackend``, its settings and the Backend protocol;
- ``kinds``: the operator's names (API group, job kinds, labels), pure;
- ``manifests``: an experiment -> its job manifest, pure;
- ``status``: job conditions and pods -> statuses and replica states, pure;
- ``cache``: the watched jobs and pods -> the events to report, pure;
- ``client``: the API connection, calls in threads, refusals as ``BackendError``s;
- ``jobs``: create, replace (retrying conflicts), delete and look up jobs;
- ``watch``: one list+watch of one resource, resumed after every interruption;
- ``watches``: the watchers of one namespace: every job kind, and the operator's pods;
- ``logs``: replica logs from pods, snapshots;
- ``follow``: one stream per running replica, resumable by the lines counted.
"""

from .backend import KubernetesBackend

__all__ = ["KubernetesBackend"]
