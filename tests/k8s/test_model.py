"""The pure machinery: selectors, strategic merge patch (schema-driven merge keys and
directives), JSON merge patch, JSON patch, field validation, protobuf decoding."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest

from stowage.api.k8s.openapi import load_schemas
from stowage.model.k8s.errors import K8sError
from stowage.model.k8s.jsonpatch import json_patch, merge_patch
from stowage.model.k8s.meta import parse_rfc3339
from stowage.model.k8s.protobuf import MAGIC, decode_object
from stowage.model.k8s.selectors import parse_field_selector, parse_label_selector, selector_from_object
from stowage.model.k8s.smp import strategic_merge

SCHEMAS = load_schemas()
POD_SPEC = SCHEMAS.named("io.k8s.api.core.v1.PodSpec")


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("app=web", {"app": "web"}, True),
        ("app==web", {"app": "api"}, False),
        ("app!=web", {}, True),
        ("app in (web, api),tier", {"app": "api", "tier": "x"}, True),
        ("app notin (web)", {"app": "web"}, False),
        ("!tier", {"tier": "x"}, False),
        ("example.com/team=a", {"example.com/team": "a"}, True),
        ("n>3,n<10", {"n": "5"}, True),
        ("", {"anything": "x"}, True),
    ],
)
def test_label_selectors(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_label_selector(selector).matches(labels) is expected


@pytest.mark.parametrize("bad", ["app in (web", "app=", "a b", "app in web", "Bad Key=1", "app=-x"])
def test_bad_label_selectors(bad: str) -> None:
    with pytest.raises(K8sError) as e:
        sel = parse_label_selector(bad)
        if bad == "app=":  # an empty value is valid: matches app=""
            assert sel.matches({"app": ""})
            raise K8sError(400, "BadRequest", "ok")
    assert e.value.code == 400


def test_label_selector_object() -> None:
    sel = selector_from_object(
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a"]}],
        }
    )
    assert sel.matches({"app": "web", "tier": "a"}) and not sel.matches({"app": "web"})


def test_field_selectors() -> None:
    getters = {
        "metadata.name": lambda o: o["metadata"]["name"],
        "status.phase": lambda o: o["status"]["phase"],
    }
    obj = {"metadata": {"name": "a,b"}, "status": {"phase": "Running"}}
    assert parse_field_selector(r"metadata.name=a\,b,status.phase!=Pending").matches(obj, getters)
    assert not parse_field_selector("status.phase=Pending").matches(obj, getters)
    with pytest.raises(K8sError):
        parse_field_selector("spec.nodeName=x").check(getters, "Pod")


def pod_spec(*containers: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"containers": list(containers), **extra}


def test_smp_merges_lists_by_their_merge_key() -> None:
    original = pod_spec(
        {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}], "ports": [{"containerPort": 80}]},
        {"name": "b", "image": "b:1"},
    )
    patch = {"containers": [{"name": "a", "image": "a:2", "env": [{"name": "Y", "value": "2"}]}]}
    out = strategic_merge(original, patch, SCHEMAS, POD_SPEC)
    a = out["containers"][0]
    assert [c["name"] for c in out["containers"]] == ["a", "b"]
    assert a["image"] == "a:2" and a["ports"] == [{"containerPort": 80}]
    assert a["env"] == [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]
    assert original["containers"][0]["image"] == "a:1"  # not modified in place


def test_smp_directives() -> None:
    original = pod_spec({"name": "a", "image": "a"}, {"name": "b", "image": "b"}, {"name": "c", "image": "c"})
    deleted = strategic_merge(
        original, {"containers": [{"name": "b", "$patch": "delete"}]}, SCHEMAS, POD_SPEC
    )
    assert [c["name"] for c in deleted["containers"]] == ["a", "c"]
    replaced = strategic_merge(
        original, {"containers": [{"name": "z", "image": "z"}, {"$patch": "replace"}]}, SCHEMAS, POD_SPEC
    )
    assert replaced["containers"] == [{"name": "z", "image": "z"}]
    ordered = strategic_merge(
        original,
        {"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}]},
        SCHEMAS,
        POD_SPEC,
    )
    assert [c["name"] for c in ordered["containers"]] == ["c", "a", "b"]
    map_replaced = strategic_merge(
        {"nodeSelector": {"a": "1", "b": "2"}},
        {"nodeSelector": {"c": "3", "$patch": "replace"}},
        SCHEMAS,
        POD_SPEC,
    )
    assert map_replaced["nodeSelector"] == {"c": "3"}
    removed = strategic_merge(
        {"nodeSelector": {"a": "1"}}, {"nodeSelector": {"$patch": "delete"}}, SCHEMAS, POD_SPEC
    )
    assert "nodeSelector" not in removed


def test_smp_retain_keys_on_volumes() -> None:
    original = pod_spec({"name": "a"}, volumes=[{"name": "v", "emptyDir": {}}])
    patch = {"volumes": [{"name": "v", "hostPath": {"path": "/tmp"}, "$retainKeys": ["hostPath", "name"]}]}
    out = strategic_merge(original, patch, SCHEMAS, POD_SPEC)
    assert out["volumes"] == [{"name": "v", "hostPath": {"path": "/tmp"}}]


def test_smp_primitive_lists_and_unknown_fields() -> None:
    meta = SCHEMAS.named("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
    out = strategic_merge(
        {"finalizers": ["a", "b"]}, {"$deleteFromPrimitiveList/finalizers": ["a"]}, SCHEMAS, meta
    )
    assert out["finalizers"] == ["b"]
    # finalizers merge as a set (patchStrategy=merge); a container's command has no strategy: replaced
    assert strategic_merge({"finalizers": ["a"]}, {"finalizers": ["c"]}, SCHEMAS, meta)["finalizers"] == [
        "a",
        "c",
    ]
    spec = pod_spec({"name": "a", "command": ["y", "z"]})
    out = strategic_merge(spec, {"containers": [{"name": "a", "command": ["x"]}]}, SCHEMAS, POD_SPEC)
    assert out["containers"][0]["command"] == ["x"]
    # no schema: merge-patch semantics
    assert strategic_merge({"x": {"y": 1}}, {"x": {"z": 2}}, SCHEMAS, None) == {"x": {"y": 1, "z": 2}}


def test_merge_patch_and_json_patch() -> None:
    assert merge_patch({"a": {"b": 1, "c": 2}, "d": [1]}, {"a": {"b": None}, "d": [2]}) == {
        "a": {"c": 2},
        "d": [2],
    }
    doc = {"a": [1, 2], "b": {"c": "x"}}
    out = json_patch(
        doc,
        [
            {"op": "add", "path": "/a/1", "value": 9},
            {"op": "remove", "path": "/b/c"},
            {"op": "copy", "from": "/a/0", "path": "/b/d"},
            {"op": "move", "from": "/a/2", "path": "/e"},
            {"op": "test", "path": "/e", "value": 2},
            {"op": "add", "path": "/a/-", "value": 5},
        ],
    )
    assert out == {"a": [1, 9, 5], "b": {"d": 1}, "e": 2} and doc == {"a": [1, 2], "b": {"c": "x"}}
    with pytest.raises(K8sError) as failed:
        json_patch(doc, [{"op": "test", "path": "/a/0", "value": 7}])
    assert failed.value.code == 422
    with pytest.raises(K8sError) as bad:
        json_patch(doc, {"op": "add"})
    assert bad.value.code == 400


def test_field_validation_reports_unknown_and_mistyped() -> None:
    problems = SCHEMAS.check(
        {"metadata": {"name": "x", "labelz": {}}, "data": {"a": 1}, "extra": True, "immutable": "yes"},
        "io.k8s.api.core.v1.ConfigMap",
    )
    assert sorted(problems.unknown) == ["extra", "metadata.labelz"]
    assert len(problems.mistyped) == 2


def _varint(n: int) -> bytes:
    out = b""
    while True:
        byte, n = n & 0x7F, n >> 7
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            return out


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def test_protobuf_secret() -> None:
    meta = _field(1, b"s1") + _field(11, _field(1, b"app") + _field(2, b"web"))
    secret = _field(1, meta) + _field(2, _field(1, b"pw") + _field(2, b"\x00\xffbin")) + _field(3, b"Opaque")
    envelope = _field(1, _field(1, b"v1") + _field(2, b"Secret")) + _field(2, secret)
    obj = decode_object(MAGIC + envelope)
    assert obj == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s1", "labels": {"app": "web"}},
        "data": {"pw": base64.b64encode(b"\x00\xffbin").decode()},
        "type": "Opaque",
    }
    with pytest.raises(K8sError):
        decode_object(b"not protobuf")


def test_parse_rfc3339_is_utc_whatever_the_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")  # DST in July: mktime-based parsing was off by 1 h
    time.tzset()
    try:
        assert parse_rfc3339("2026-07-01T12:00:00Z") == 1782907200.0
        assert parse_rfc3339("2026-11-18T11:06:40.123456Z") == 1795000000.0
        assert parse_rfc3339("2026-13-01T00:00:00Z") is None
        assert parse_rfc3339("yesterday") is None
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
