"""configMap, secret, downwardAPI and projected volumes of a pod: the files the kubelet would
write, the task definition's volumes and mount points, the API server's checks. Pure."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from stowage.api.k8s.workloads import pod_phase_reason
from stowage.model.k8s import pod_volumes as pv
from stowage.model.k8s import pods

UID = "0a1b2c3d-0000-4000-a000-00000000abcd"


def pod(volumes: list[dict[str, Any]], *containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "metadata": {
            "name": "web", "namespace": "shop", "uid": UID,
            "labels": {"app": "web", "tier": 'front "end"'}, "annotations": {"team": "blue"},
        },
        "spec": {
            "containers": list(containers) or [{"name": "app", "image": "busybox",
                                                "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}}}],
            "volumes": volumes,
            **spec,
        },
    }  # fmt: skip
    pods.prepare_pod(body)
    return body


def b64(text: bytes) -> str:
    return base64.b64encode(text).decode()


CONFIG = {"data": {"b.conf": "bee", "a.conf": "ay"}, "binaryData": {"logo.bin": b64(b"\x00\xff\x10")}}
SECRET = {"data": {"password": b64(b"s3cret"), "user": b64(b"admin")}}
CONTENTS = {
    ("configmaps", "app-config"): pv.object_bytes("configmaps", CONFIG),
    ("secrets", "db"): pv.object_bytes("secrets", SECRET),
}


def files(p: dict[str, Any], contents: Any = None) -> dict[str, list[tuple[str, int, bytes]]]:
    out = pv.pod_files(p, CONTENTS if contents is None else contents)
    return {name: [(f.path, f.mode, f.data) for f in entries] for name, entries in out.items()}


def test_every_key_is_a_file_with_the_default_mode_and_binary_data_as_bytes() -> None:
    p = pod([{"name": "config", "configMap": {"name": "app-config"}}])
    assert p["spec"]["volumes"][0]["configMap"]["defaultMode"] == 0o644  # the API server's default
    assert files(p) == {
        "config": [("a.conf", 0o644, b"ay"), ("b.conf", 0o644, b"bee"), ("logo.bin", 0o644, b"\x00\xff\x10")]
    }


def test_items_remap_keys_to_paths_with_their_own_modes() -> None:
    p = pod([{"name": "config", "configMap": {
        "name": "app-config", "defaultMode": 0o400,
        "items": [{"key": "a.conf", "path": "conf.d/first.conf"},
                  {"key": "b.conf", "path": "b", "mode": 0o600}],
    }}])  # fmt: skip
    assert files(p) == {"config": [("conf.d/first.conf", 0o400, b"ay"), ("b", 0o600, b"bee")]}


def test_secret_data_is_decoded_and_0644_by_default() -> None:
    p = pod([{"name": "creds", "secret": {"secretName": "db"}}])
    assert files(p) == {"creds": [("password", 0o644, b"s3cret"), ("user", 0o644, b"admin")]}


def test_missing_objects_and_keys_are_failed_mounts_unless_optional() -> None:
    with pytest.raises(pv.MountError) as exc:
        files(pod([{"name": "config", "configMap": {"name": "nope"}}]))
    assert str(exc.value) == 'MountVolume.SetUp failed for volume "config" : configmap "nope" not found'
    with pytest.raises(pv.MountError) as exc:
        files(pod([{"name": "creds", "secret": {"secretName": "gone"}}]))
    assert str(exc.value) == 'MountVolume.SetUp failed for volume "creds" : secret "gone" not found'
    with pytest.raises(pv.MountError) as exc:
        files(
            pod(
                [
                    {
                        "name": "config",
                        "configMap": {"name": "app-config", "items": [{"key": "zz", "path": "z"}]},
                    }
                ]
            )
        )
    assert exc.value.reason == "configmap references non-existent config key: zz"
    with pytest.raises(pv.MountError) as exc:
        files(pod([{"name": "creds", "secret": {"secretName": "db", "items": [{"key": "zz", "path": "z"}]}}]))
    assert exc.value.reason == "secret references non-existent secret key: zz"
    optional = pod([
        {"name": "config", "configMap": {"name": "nope", "optional": True}},
        {"name": "creds", "secret": {"secretName": "db", "optional": True,
                                     "items": [{"key": "zz", "path": "z"}, {"key": "user", "path": "u"}]}},
    ])  # fmt: skip
    assert files(optional) == {"config": [], "creds": [("u", 0o644, b"admin")]}


def test_downward_api_files() -> None:
    p = pod([{"name": "info", "downwardAPI": {"items": [
        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
        {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
        {"path": "team", "fieldRef": {"fieldPath": "metadata.annotations['team']"}, "mode": 0o400},
        {"path": "cpu_m", "resourceFieldRef": {"containerName": "app", "resource": "limits.cpu",
                                               "divisor": "1m"}},
        {"path": "mem_mi", "resourceFieldRef": {"containerName": "app", "resource": "requests.memory",
                                                "divisor": "1Mi"}},
        {"path": "cpu", "resourceFieldRef": {"containerName": "app", "resource": "limits.cpu"}},
    ]}}])  # fmt: skip
    assert files(p) == {"info": [
        ("labels", 0o644, b'app="web"\ntier="front \\"end\\""'),
        ("name", 0o644, b"web"),
        ("team", 0o400, b"blue"),
        ("cpu_m", 0o644, b"500"),
        ("mem_mi", 0o644, b"64"),
        ("cpu", 0o644, b"1"),  # 0.5 core rounded up, as the kubelet does
    ]}  # fmt: skip


def test_projected_volume_combines_sources_and_reports_every_missing_one() -> None:
    volume = {"name": "all", "projected": {"defaultMode": 0o440, "sources": [
        {"configMap": {"name": "app-config", "items": [{"key": "a.conf", "path": "app/a.conf"}]}},
        {"secret": {"name": "db", "items": [{"key": "password", "path": "db/pw", "mode": 0o400}]}},
        {"downwardAPI": {"items": [{"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace"}}]}},
    ]}}  # fmt: skip
    assert files(pod([volume])) == {
        "all": [("app/a.conf", 0o440, b"ay"), ("db/pw", 0o400, b"s3cret"), ("ns", 0o440, b"shop")]
    }
    with pytest.raises(pv.MountError) as exc:
        files(pod([volume]), {})
    assert exc.value.reason == '[configmap "app-config" not found, secret "db" not found]'
    assert pv.volume_refs(pod([volume])) == {("configmaps", "app-config"), ("secrets", "db")}


def test_the_task_carries_file_volumes_read_only_and_sub_paths() -> None:
    p = pod(
        [{"name": "config", "configMap": {"name": "app-config"}}, {"name": "scratch", "emptyDir": {}},
         {"name": "host", "hostPath": {"path": "/srv"}}],
        {"name": "app", "image": "busybox", "volumeMounts": [
            {"name": "config", "mountPath": "/etc/config"},
            {"name": "config", "mountPath": "/etc/app.conf", "subPath": "a.conf", "readOnly": False},
            {"name": "scratch", "mountPath": "/tmp/s"},
            {"name": "host", "mountPath": "/data", "subPath": "web"},
        ]},
    )  # fmt: skip
    td = pods.task_definition(p, arn="a", cluster="local", region="r", sources={}, node=None)
    assert td["volumes"] == [
        {"name": "config", "host": {}},
        {"name": "scratch", "host": {}},
        {"name": "host", "host": {"sourcePath": "/srv"}},
    ]
    assert td["containerDefinitions"][0]["mountPoints"] == [
        {"sourceVolume": "config", "containerPath": "/etc/config", "readOnly": True},
        {"sourceVolume": "config", "containerPath": "/etc/app.conf", "readOnly": True, "subPath": "a.conf"},
        {"sourceVolume": "scratch", "containerPath": "/tmp/s", "readOnly": False},
        {"sourceVolume": "host", "containerPath": "/data", "readOnly": False, "subPath": "web"},
    ]
    encoded = pv.encode_files(pv.pod_files(p, CONTENTS))
    assert encoded["config"][2] == {"path": "logo.bin", "mode": 0o644, "data": b64(b"\x00\xff\x10")}


def test_a_volume_without_a_source_is_an_empty_dir() -> None:
    p = pod([{"name": "plain"}])
    assert p["spec"]["volumes"] == [{"name": "plain", "emptyDir": {}}]
    assert pods.validate_pod(p) == []


@pytest.mark.parametrize(
    ("volume", "mount", "field", "message"),
    [
        ({"name": "v", "configMap": {"name": "c", "defaultMode": 0o1777}}, None,
         "spec.volumes[0].configMap.defaultMode", "must be a number between 0 and 0777"),
        ({"name": "v", "secret": {"secretName": "s", "items": [{"key": "k", "path": "/abs"}]}}, None,
         "spec.volumes[0].secret.items[0].path", "must be a relative path"),
        ({"name": "v", "configMap": {"name": "c", "items": [{"key": "k", "path": "../up"}]}}, None,
         "spec.volumes[0].configMap.items[0].path", "must not contain '..'"),
        ({"name": "v", "configMap": {"name": "c", "items": [{"key": "k", "path": "p", "mode": -1}]}}, None,
         "spec.volumes[0].configMap.items[0].mode", "must be a number between 0 and 0777"),
        ({"name": "v", "secret": {}}, None, "spec.volumes[0].secret.secretName", "Required value"),
        ({"name": "v", "downwardAPI": {"items": [{"path": "n", "fieldRef": {"fieldPath": "spec.nodeName"}}]}},
         None, "spec.volumes[0].downwardAPI.items[0].fieldRef.fieldPath",
         'Unsupported value: "spec.nodeName"'),
        ({"name": "v", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}, None,
         "spec.volumes[0].projected.sources[0].serviceAccountToken", "not supported"),
        ({"name": "v", "projected": {"sources": [
            {"configMap": {"name": "a", "items": [{"key": "k", "path": "same"}]}},
            {"secret": {"name": "b", "items": [{"key": "k", "path": "same"}]}}]}}, None,
         "spec.volumes[0].projected.sources[1].secret.items", "conflicting duplicate paths"),
        ({"name": "v", "emptyDir": {}, "configMap": {"name": "c"}}, None,
         "spec.volumes[0]", "may not specify more than 1 volume type"),
        ({"name": "v", "emptyDir": {}}, {"name": "v", "mountPath": "/x", "subPath": "a"},
         "spec.containers[0].volumeMounts[0].subPath", "not supported"),
        ({"name": "v", "configMap": {"name": "c"}}, {"name": "v", "mountPath": "/x", "subPath": "../a"},
         "spec.containers[0].volumeMounts[0].subPath", "must not contain '..'"),
        ({"name": "v", "nfs": {"server": "s", "path": "/"}}, None, "spec.volumes[v]", "not supported"),
    ],
)  # fmt: skip
def test_invalid_volumes_are_refused(
    volume: dict[str, Any], mount: dict[str, Any] | None, field: str, message: str
) -> None:
    container: dict[str, Any] = {"name": "app", "image": "busybox"}
    if mount is not None:
        container["volumeMounts"] = [mount]
    causes = pods.validate_pod(pod([volume], container))
    assert [c.field for c in causes] == [field]
    assert message in causes[0].message


def test_a_pod_waiting_for_a_volume_shows_container_creating() -> None:
    p = pod([{"name": "config", "configMap": {"name": "nope"}}])
    status = pv.waiting_status(p, now=1_700_000_000)
    assert status["phase"] == "Pending"
    assert status["containerStatuses"][0]["state"] == {"waiting": {"reason": "ContainerCreating"}}
    assert pod_phase_reason({**p, "status": status}) == "ContainerCreating"
    with_init = pod(
        [{"name": "config", "configMap": {"name": "nope"}}],
        initContainers=[{"name": "setup", "image": "busybox"}],
    )
    status = pv.waiting_status(with_init, now=1_700_000_000)
    assert status["initContainerStatuses"][0]["state"] == {"waiting": {"reason": "PodInitializing"}}
    assert pod_phase_reason({**with_init, "status": status}) == "Init:0/1"
