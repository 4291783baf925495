"""Which log stream holds which instance of a pod container, and which instance a ``pods/log``
request reads. Pure.

Every start of a pod container is an instance of its own (the one started after N restarts is
instance N) and, as the kubelet keeps a log file per instance, each writes a stream of its own
in the pod's awslogs group: instance 0 the stream awslogs names (``<pod>/<container>/<task
id>``), instance N ≥ 1 that name with ``/<N>`` after it. (ECS containers with a
``restartPolicy`` keep writing one stream, as ECS does: only pod containers are split.)

The container's status says which instance is which, as the kubelet reads it: ``restartCount``
is the newest instance (running, terminated, or exited and waiting out its back-off), and
``lastState.terminated`` the previous one: the instance before it, or that same instance while
it waits in CrashLoopBackOff (its container is both the status' and the last state's).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stowage.model.k8s import errors


def instance_stream(stream: str, instance: int) -> str:
    """The stream of a pod container's ``instance`` given its first instance's ``stream``."""
    return stream if instance <= 0 else f"{stream}/{instance}"


def _status_of(pod: Mapping[str, Any], container: str) -> Mapping[str, Any] | None:
    status = pod.get("status") or {}
    for s in [*(status.get("containerStatuses") or []), *(status.get("initContainerStatuses") or [])]:
        if s.get("name") == container:
            return dict(s)
    return None


def log_instance(pod: Mapping[str, Any], container: str, *, previous: bool) -> int:
    """The instance whose output ``kubectl logs [--previous]`` shows; a 400 with the kubelet's
    message when there is none (the container has not started, or has no previous instance)."""
    name = (pod.get("metadata") or {}).get("name", "")
    s = _status_of(pod, container) or {}
    last = ((s.get("lastState") or {}).get("terminated")) or {}
    count = int(s.get("restartCount") or 0)
    if previous:
        if not last.get("containerID"):
            raise errors.bad_request(f'previous terminated container "{container}" in pod "{name}" not found')
        return count if last["containerID"] == s.get("containerID") else max(0, count - 1)
    if s.get("containerID"):
        return count
    if last.get("containerID"):
        return max(0, count - 1)  # the next instance is being created: the last one's output
    waiting = (s.get("state") or {}).get("waiting") or {}
    reason = waiting.get("reason") or "ContainerCreating"
    raise errors.bad_request(f'container "{container}" in pod "{name}" is waiting to start: {reason}')


def instance_over(pod: Mapping[str, Any], container: str, instance: int) -> bool:
    """``instance`` of ``container`` no longer runs: it exited (and may have been followed by
    another), so following its output ends, as the kubelet's follow ends with the container."""
    s = _status_of(pod, container)
    if s is None:
        return True
    return int(s.get("restartCount") or 0) != instance or "running" not in (s.get("state") or {})
