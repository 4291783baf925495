"""Kubernetes workloads on stowage's own machinery: pods become ECS tasks placed by the same
scheduler and run by the same agents (``pods.py``), and every container instance of the
backing ECS cluster is a Node (``nodes.py``)."""
