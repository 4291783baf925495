"""The machine's kubectl against stowage's Kubernetes API: discovery, apply, get (tables),
watch, explain, field validation, patches, server-side apply, namespaces, authentication."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time

from tests.k8s.conftest import KUBECTL, K8sServer

CM = """apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config
  namespace: {ns}
  labels: {{app: web, tier: front}}
data:
  a: "1"
  b: {b}
"""


def test_version_and_resources(k8s: K8sServer) -> None:
    out = k8s.kubectl("version", "-o", "json").stdout
    server = json.loads(out)["serverVersion"]
    assert (server["major"], server["minor"]) == ("1", "32")
    table = k8s.kubectl("api-resources").stdout
    rows = {tuple(line.split()[:2]) for line in table.splitlines()[1:]}
    for pair in [("configmaps", "cm"), ("namespaces", "ns"), ("serviceaccounts", "sa"), ("events", "ev")]:
        assert pair in rows
    assert "secrets" in table


def test_apply_twice_then_change(k8s: K8sServer, namespace: str) -> None:
    first = k8s.kubectl("apply", "-f", "-", input=CM.format(ns=namespace, b="two")).stdout
    assert "configmap/app-config created" in first
    again = k8s.kubectl("apply", "-f", "-", input=CM.format(ns=namespace, b="two")).stdout
    assert "configmap/app-config unchanged" in again
    rv_before = k8s.kubectl(
        "get", "cm", "app-config", "-n", namespace, "-o", "jsonpath={.metadata.resourceVersion}"
    )
    changed = k8s.kubectl("apply", "-f", "-", input=CM.format(ns=namespace, b="three")).stdout
    assert "configmap/app-config configured" in changed
    got = json.loads(k8s.kubectl("get", "cm", "app-config", "-n", namespace, "-o", "json").stdout)
    assert got["data"] == {"a": "1", "b": "three"}
    assert int(got["metadata"]["resourceVersion"]) > int(rv_before.stdout)
    assert "kubectl.kubernetes.io/last-applied-configuration" in got["metadata"]["annotations"]


def test_get_wide_and_label_selectors(k8s: K8sServer, namespace: str) -> None:
    for name, labels in [("c1", "app=web,tier=front"), ("c2", "app=api,tier=back"), ("c3", "app=db")]:
        k8s.kubectl("create", "configmap", name, "-n", namespace, "--from-literal=k=v")
        k8s.kubectl("label", "cm", name, "-n", namespace, *labels.split(","))
    wide = k8s.kubectl("get", "cm", "-n", namespace, "-o", "wide").stdout.splitlines()
    assert wide[0].split() == ["NAME", "DATA", "AGE"]
    names = [line.split()[0] for line in wide[1:]]
    assert {"c1", "c2", "c3"} <= set(names)

    def selected(selector: str) -> set[str]:
        out = k8s.kubectl("get", "cm", "-n", namespace, "-l", selector, "-o", "name").stdout
        return {line.split("/", 1)[1] for line in out.split()}

    assert selected("app=web") == {"c1"}
    assert selected("app in (web,api)") == {"c1", "c2"}
    assert selected("app notin (web),tier") == {"c2"}
    assert selected("!tier") == {"c3"}
    assert selected("app!=web,app!=api") == {"c3"}
    assert selected("tier=front,app=web") == {"c1"}
    bad = k8s.kubectl("get", "cm", "-n", namespace, "-l", "app in (web", check=False)
    assert bad.returncode != 0


def test_watch_streams_a_change(k8s: K8sServer, namespace: str) -> None:
    k8s.kubectl("create", "configmap", "watched", "-n", namespace, "--from-literal=a=1")
    watch = subprocess.Popen(
        [KUBECTL, "--kubeconfig", str(k8s.kubeconfig), "get", "cm", "-n", namespace, "-w",
         "--output-watch-events", "--request-timeout=8s"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(1.5)  # let the watch start: changes after this point must stream
        k8s.kubectl("patch", "cm", "watched", "-n", namespace, "-p", '{"data":{"b":"2"}}')
        k8s.kubectl("delete", "cm", "watched", "-n", namespace)
        out, _ = watch.communicate(timeout=30)
    finally:
        watch.kill()
    lines = [line.split() for line in out.splitlines() if "watched" in line]
    events = [parts[0] for parts in lines]
    assert events[0] == "ADDED"
    assert "MODIFIED" in events and events[-1] == "DELETED"
    modified = next(parts for parts in lines if parts[0] == "MODIFIED")
    assert modified[2] == "2"  # the DATA column counts the new key


def test_explain(k8s: K8sServer) -> None:
    out = k8s.kubectl("explain", "configmap").stdout
    assert "KIND:" in out and "ConfigMap" in out and "binaryData" in out and "immutable" in out
    out = k8s.kubectl("explain", "secret.stringData").stdout
    assert "stringData" in out and "write-only" in out.lower()


def test_unknown_field_strict_then_warn(k8s: K8sServer, namespace: str) -> None:
    doc = f"""apiVersion: v1
kind: ConfigMap
metadata: {{name: loose, namespace: {namespace}, labelz: {{x: y}}}}
data: {{a: "1"}}
extra: 1
"""
    strict = k8s.kubectl("apply", "-f", "-", input=doc, check=False)
    assert strict.returncode != 0
    assert 'unknown field "extra"' in strict.stderr and 'unknown field "metadata.labelz"' in strict.stderr
    assert "BadRequest" in strict.stderr
    warn = k8s.kubectl("apply", "--validate=warn", "-f", "-", input=doc)
    assert 'Warning: unknown field "extra"' in warn.stderr
    got = json.loads(k8s.kubectl("get", "cm", "loose", "-n", namespace, "-o", "json").stdout)
    assert "extra" not in got and got["data"] == {"a": "1"}


def test_patch_types_and_server_side_apply(k8s: K8sServer, namespace: str) -> None:
    k8s.kubectl("create", "configmap", "p", "-n", namespace, "--from-literal=a=1")
    k8s.kubectl("patch", "cm", "p", "-n", namespace, "-p", '{"data":{"b":"2"}}')  # strategic
    k8s.kubectl("patch", "cm", "p", "-n", namespace, "--type", "merge", "-p", '{"data":{"a":null}}')
    k8s.kubectl(
        "patch",
        "cm",
        "p",
        "-n",
        namespace,
        "--type",
        "json",
        "-p",
        '[{"op":"add","path":"/data/c","value":"3"}]',
    )
    data = json.loads(k8s.kubectl("get", "cm", "p", "-n", namespace, "-o", "jsonpath={.data}").stdout)
    assert data == {"b": "2", "c": "3"}
    ssa = f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: ssa, namespace: {namespace}}}\n"
    ssa += "data: {x: hello}\n"
    out = k8s.kubectl("apply", "--server-side", "-f", "-", input=ssa).stdout
    assert "serverside-applied" in out
    got = json.loads(k8s.kubectl("get", "cm", "ssa", "-n", namespace, "-o", "json").stdout)
    assert got["data"] == {"x": "hello"}


def test_secrets(k8s: K8sServer, namespace: str) -> None:
    k8s.kubectl("create", "secret", "generic", "creds", "-n", namespace, "--from-literal=pw=hunter2")
    value = k8s.kubectl("get", "secret", "creds", "-n", namespace, "-o", "jsonpath={.data.pw}").stdout
    assert base64.b64decode(value) == b"hunter2"
    table = k8s.kubectl("get", "secrets", "-n", namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "TYPE", "DATA", "AGE"]
    assert table[1].split()[:3] == ["creds", "Opaque", "1"]
    doc = f"apiVersion: v1\nkind: Secret\nmetadata: {{name: sd, namespace: {namespace}}}\n"
    doc += "stringData: {token: abc}\n"
    k8s.kubectl("apply", "-f", "-", input=doc)
    got = json.loads(k8s.kubectl("get", "secret", "sd", "-n", namespace, "-o", "json").stdout)
    assert got["data"] == {"token": base64.b64encode(b"abc").decode()} and "stringData" not in got


def test_namespace_deletion_cascades(k8s: K8sServer) -> None:
    k8s.kubectl("create", "namespace", "doomed")
    k8s.kubectl("create", "configmap", "x", "-n", "doomed", "--from-literal=a=b")
    k8s.kubectl("create", "secret", "generic", "y", "-n", "doomed", "--from-literal=a=b")
    deadline = time.monotonic() + 10
    while "default" not in k8s.kubectl("get", "sa", "-n", "doomed", "-o", "name").stdout:
        assert time.monotonic() < deadline, "the default service account never appeared"
        time.sleep(0.1)
    k8s.kubectl("delete", "namespace", "doomed", "--timeout=30s")
    gone = k8s.kubectl("get", "namespace", "doomed", check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr
    k8s.kubectl("create", "namespace", "doomed")  # recreated empty
    assert k8s.kubectl("get", "cm,secret", "-n", "doomed", "-o", "name").stdout.strip() == ""
    k8s.kubectl("delete", "namespace", "doomed", "--wait=false")


def test_default_namespaces_exist(k8s: K8sServer) -> None:
    names = k8s.kubectl("get", "ns", "-o", "name").stdout.split()
    for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
        assert f"namespace/{ns}" in names


def test_unauthorized_without_token(k8s: K8sServer) -> None:
    bad = k8s.kubectl("--token", "wrong", "get", "cm", check=False)
    assert bad.returncode != 0 and "Unauthorized" in bad.stderr


def test_stowage_kubeconfig_command(k8s: K8sServer) -> None:
    data_dir = str(k8s.server.data_dir)
    cmd = [sys.executable, "-m", "stowage.cli.main", "kubeconfig", "--data-dir", data_dir]
    path = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    assert path == str(k8s.kubeconfig.resolve())
    text = subprocess.run([*cmd, "--print"], capture_output=True, text=True, check=True).stdout
    assert f"server: {k8s.url}" in text and k8s.token in text and "certificate-authority" in text
    missing = subprocess.run(
        [sys.executable, "-m", "stowage.cli.main", "kubeconfig", "--data-dir", data_dir + "-absent"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert missing.returncode == 1 and "no kubeconfig" in missing.stderr
