"""A real Kubernetes API server (etcd + kube-apiserver 1.20.2) for the Kubernetes-backend tests.

- ``tests.k8s.fixtures``: the pytest plugin (session fixture ``kube_cluster``).
- ``tests.k8s.cluster``: starting/stopping etcd and kube-apiserver, certificates, CRDs.
- ``tests.k8s.kubelet``: the stand-in kubelet log endpoint and the container log files.
- ``tests.k8s.operator``: the stand-in Kubeflow training-operator (runs replicas as local
  processes).
- ``tests.k8s.trainer``: the stand-in Kubeflow Trainer v2 controller (+ JobSet/Job): TrainJob
  nodes as local processes.
- ``tests.k8s.control``: what both stand-ins share (watch loop, worker, containers as processes).

See tests/k8s/README.md.
"""
