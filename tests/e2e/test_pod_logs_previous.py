"""``kubectl logs`` across restarts for real: each instance of a pod container logs apart, plain
``logs`` reads the current one, ``--previous`` the one before, ``-f`` ends with its instance.
A real agent on Docker; the container counts its starts in an emptyDir. Marked `docker`."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from typing import Any

import pytest

from tests.e2e.test_pods import Kube, kube  # noqa: F401  (the fixture)
from tests.k8s.conftest import KUBECTL
from tests.support.images import TEST_IMAGE

pytestmark = pytest.mark.docker

# Start 0 fails at once (restarted without back-off); start 1 runs until /s/stop exists, then
# fails (back-off: the next start waits 10 s, which the test does not wait for).
SCRIPT = (
    "n=$(cat /s/n 2>/dev/null || echo 0); echo $((n+1)) > /s/n; echo run $n; echo bye $n;"
    "if [ $n = 0 ]; then exit 1; fi;"
    "while [ ! -e /s/stop ]; do sleep 0.2; done; echo end $n; exit 1"
)


def _pod() -> str:
    return json.dumps({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "again"},
        "spec": {
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 2,
            "volumes": [{"name": "s", "emptyDir": {}}],
            "containers": [
                {"name": "main", "image": TEST_IMAGE, "command": ["sh", "-c", SCRIPT],
                 "volumeMounts": [{"name": "s", "mountPath": "/s"}]},
                {"name": "side", "image": TEST_IMAGE, "command": ["sh", "-c", "echo side; exec sleep 3600"]},
            ],
        },
    })  # fmt: skip


def _main(k: Kube) -> dict[str, Any]:
    pod = k.get("pod", "again")
    return next(s for s in pod["status"].get("containerStatuses") or [] if s["name"] == "main")


def test_logs_read_the_current_instance_and_previous_the_one_before(kube: Kube) -> None:  # noqa: F811
    kube.stack.start_agent()
    kube.kubectl("apply", "-f", "-", input=_pod())

    def logs(*args: str) -> str:
        out = kube.kubectl("logs", "again", *args, check=False)
        return str(out.stdout) if out.returncode == 0 else f"error: {out.stderr}"

    def restarted_and_running() -> bool:
        s = _main(kube)
        return s.get("restartCount") == 1 and "running" in (s.get("state") or {})

    kube.stack.until(restarted_and_running, "main restarted once and running", within=90)
    kube.stack.until(lambda: logs("-c", "main") == "run 1\nbye 1\n", "the current instance's lines")
    assert logs("-c", "main", "--previous") == "run 0\nbye 0\n"
    assert logs("-c", "main", "--previous", "--tail=1") == "bye 0\n"
    stamped = logs("-c", "main", "--previous", "--timestamps").splitlines()
    assert [line.split(" ", 1)[1] for line in stamped] == ["run 0", "bye 0"]
    assert all(line.split(" ", 1)[0].endswith("Z") for line in stamped)
    # a container that never restarted: the kubelet's error
    kube.stack.until(lambda: logs("-c", "side") == "side\n", "side's lines")
    out = kube.kubectl("logs", "again", "-c", "side", "--previous", check=False)
    assert out.returncode != 0
    assert out.stderr.strip() == (
        'Error from server (BadRequest): previous terminated container "side" in pod "again" not found'
    )

    # -f follows the current instance and ends when it exits, though the pod runs on
    follow = subprocess.Popen(
        [KUBECTL, "--kubeconfig", str(kube.k8s.kubeconfig), "logs", "-f", "again", "-c", "main"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "HOME": str(kube.k8s.server.data_dir)},
    )  # fmt: skip
    try:
        assert follow.stdout is not None
        assert follow.stdout.readline() == "run 1\n"
        kube.kubectl("exec", "again", "-c", "main", "--", "touch", "/s/stop")
        # read to the end through the same buffer as readline (communicate would skip it)
        watchdog = threading.Timer(60, follow.kill)
        watchdog.start()
        rest = follow.stdout.read()
        watchdog.cancel()
    finally:
        follow.kill()
        follow.wait()
    assert rest == "bye 1\nend 1\n" and follow.returncode == 0
    assert kube.get("pod", "again")["status"]["phase"] == "Running"

    # waiting out its back-off, the instance that just exited is both current and previous
    def backing_off() -> bool:
        s = _main(kube)
        return "waiting" in (s.get("state") or {}) and s.get("restartCount") == 1

    kube.stack.until(backing_off, "CrashLoopBackOff after the second exit")
    assert logs("-c", "main") == logs("-c", "main", "--previous") == "run 1\nbye 1\nend 1\n"
    kube.kubectl("delete", "pod", "again", "--timeout=60s")
