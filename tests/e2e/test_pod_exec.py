"""`kubectl exec` on real Docker: the machine's kubectl (WebSocket v5) and the Python client's
`stream` (v4) run commands in a pod's container through the agent's tunnel; output, stdin,
exit codes and errors come back as the kubelet gives them. Marked `docker`."""

from __future__ import annotations

import pytest
from kubernetes import client as k8s_client
from kubernetes import config
from kubernetes.stream import stream

from tests.e2e.test_pods import POD, Kube, kube  # noqa: F401  (the fixture)
from tests.support.images import TEST_IMAGE

pytestmark = pytest.mark.docker


def test_kubectl_exec_runs_in_the_pods_container(kube: Kube) -> None:  # noqa: F811
    kube.stack.start_agent()
    kube.kubectl("create", "configmap", "settings", "--from-literal=colour=green")
    pod = POD.format(name="shell", restart="Always", image=TEST_IMAGE, script="echo up; sleep 3600")
    kube.kubectl("apply", "-f", "-", input=pod)
    kube.kubectl("wait", "--for=condition=Ready", "pod/shell", "--timeout=60s")

    out = kube.kubectl("exec", "shell", "--", "sh", "-c", "echo $GREETING from $(hostname); echo oops >&2")
    assert out.stdout.strip().startswith("hello from ")
    assert "oops" in out.stderr
    # stdin, to its end
    echoed = kube.kubectl("exec", "-i", "shell", "--", "cat", input="line one\nline two\n")
    assert echoed.stdout == "line one\nline two\n"
    # the command's exit code is kubectl's
    failed = kube.kubectl("exec", "shell", "--", "sh", "-c", "exit 3", check=False)
    assert failed.returncode == 3
    missing = kube.kubectl("exec", "shell", "-c", "nope", "--", "true", check=False)
    assert missing.returncode != 0 and "container nope is not valid" in missing.stderr

    # the official Python client's stream() (v4.channel.k8s.io)
    api = k8s_client.CoreV1Api(config.new_client_from_config(config_file=str(kube.k8s.kubeconfig)))
    said = stream(
        api.connect_get_namespaced_pod_exec, "shell", "default",
        command=["sh", "-c", "echo from-python"], stderr=True, stdin=False, stdout=True, tty=False,
    )  # fmt: skip
    assert said.strip() == "from-python"
