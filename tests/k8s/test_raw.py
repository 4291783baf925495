"""The wire itself, with nothing but the standard library: TLS with stowage's CA, Status bodies
for every error, tables, aggregated discovery, OpenAPI, watch bookmarks and timeouts."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from typing import Any

from tests.k8s.conftest import K8sServer

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


def call(
    k8s: K8sServer, method: str, path: str, body: bytes | None = None, *,
    token: str | None = None, headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
    ctx = ssl.create_default_context(cafile=str(k8s.ca))
    req = urllib.request.Request(k8s.url + path, data=body, method=method)
    if token is not False:
        req.add_header("Authorization", f"Bearer {token or k8s.token}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def status_of(raw: bytes) -> dict[str, Any]:
    doc = json.loads(raw)
    assert doc["kind"] == "Status" and doc["apiVersion"] == "v1" and doc["status"] == "Failure"
    return dict(doc)


def test_tls_is_verified_with_the_stowage_ca(k8s: K8sServer) -> None:
    code, _, body = call(k8s, "GET", "/version")
    assert code == 200 and json.loads(body)["major"] == "1"


def test_unauthorized_is_a_status(k8s: K8sServer) -> None:
    code, _, body = call(k8s, "GET", "/api/v1/namespaces", token="not-the-token")
    assert code == 401 and status_of(body)["reason"] == "Unauthorized"


def test_errors_are_statuses(k8s: K8sServer) -> None:
    js = {"Content-Type": "application/json"}
    merge = {"Content-Type": "application/merge-patch+json"}
    cms = "/api/v1/namespaces/default/configmaps"
    big = b"a" * (4 * 1024 * 1024)
    cases = [
        ("POST", cms, b"{not json", js, 400, "BadRequest"),
        ("POST", cms, b"[1,2]", js, 400, "BadRequest"),
        ("POST", cms, b'{"metadata":{"name":"Bad_Name"}}', js, 422, "Invalid"),
        ("POST", cms, b'{"metadata":{"name":"x"},"data":{"a":1}}', js, 400, "BadRequest"),
        ("POST", cms, big, js, 413, "RequestEntityTooLarge"),
        (
            "POST",
            "/api/v1/namespaces/default/secrets",
            b'{"metadata":{"name":"b"},"data":{"k":"%%"}}',
            js,
            422,
            "Invalid",
        ),
        ("GET", f"{cms}/absent", None, {}, 404, "NotFound"),
        ("GET", "/api/v1/nothings", None, {}, 404, "NotFound"),
        ("DELETE", "/api/v1/namespaces", None, {}, 405, "MethodNotAllowed"),
        (
            "PATCH",
            "/api/v1/namespaces/default",
            b"{}",
            {"Content-Type": "text/plain"},
            415,
            "UnsupportedMediaType",
        ),
        ("PATCH", f"{cms}/absent", b"{}", merge, 404, "NotFound"),
        (
            "POST",
            "/api/v1/namespaces/absent-ns/configmaps",
            b'{"metadata":{"name":"x"}}',
            js,
            404,
            "NotFound",
        ),
    ]
    for method, path, body, headers, code, reason in cases:
        got, _, raw = call(k8s, method, path, body, headers=headers)
        assert (got, status_of(raw)["reason"]) == (code, reason), (method, path, raw[:200])
    _, _, raw = call(
        k8s,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        b'{"metadata":{"name":"Bad_Name"}}',
        headers=js,
    )
    causes = status_of(raw)["details"]["causes"]
    assert causes[0]["field"] == "metadata.name"


def test_deep_or_odd_bodies_are_bad_requests(k8s: K8sServer) -> None:
    """Bodies nested far deeper than any object, and YAML scalars that resolve to impossible
    values, are the client's 400, never a 500."""
    cms = "/api/v1/namespaces/default/configmaps"
    code, _, _ = call(k8s, "POST", cms, b'{"metadata":{"name":"deep"},"data":{"a":"b"}}',
                      headers={"Content-Type": "application/json"})  # fmt: skip
    assert code == 201
    deep: Any = {"a": "b"}
    for _ in range(600):
        deep = {"x": deep}
    json_patch = json.dumps([{"op": "add", "path": "/data/q", "value": deep}]).encode()
    yaml_deep = b"metadata: {name: deep}\nz: " + b"[" * 1200 + b"]" * 1200 + b"\n"
    cases = [
        ("PATCH", f"{cms}/deep", json_patch, "application/json-patch+json"),
        ("PATCH", f"{cms}/deep?fieldManager=t", yaml_deep, "application/apply-patch+yaml"),
        ("POST", cms, b"metadata: {name: when}\ndata: {a: 2026-13-45}\n", "application/yaml"),
    ]
    for method, path, body, ctype in cases:
        got, _, raw = call(k8s, method, path, body, headers={"Content-Type": ctype})
        assert got == 400 and status_of(raw)["reason"] == "BadRequest", (method, ctype, raw[:200])


def test_secret_table_columns(k8s: K8sServer) -> None:
    body = (
        b'{"metadata":{"name":"tbl"},"type":"kubernetes.io/basic-auth",'
        b'"stringData":{"username":"u","password":"p"}}'
    )
    code, _, _ = call(
        k8s, "POST", "/api/v1/namespaces/default/secrets", body, headers={"Content-Type": "application/json"}
    )
    assert code == 201
    code, _, raw = call(k8s, "GET", "/api/v1/namespaces/default/secrets/tbl", headers={"Accept": TABLE})
    table = json.loads(raw)
    assert code == 200 and table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Type", "Data", "Age"]
    assert table["rows"][0]["cells"][:3] == ["tbl", "kubernetes.io/basic-auth", 2]


def test_aggregated_discovery(k8s: K8sServer) -> None:
    accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
    code, headers, raw = call(k8s, "GET", "/api", headers={"Accept": accept})
    assert code == 200 and "as=APIGroupDiscoveryList" in headers["content-type"]
    doc = json.loads(raw)
    resources = {r["resource"]: r for r in doc["items"][0]["versions"][0]["resources"]}
    assert (
        resources["configmaps"]["shortNames"] == ["cm"] and resources["configmaps"]["scope"] == "Namespaced"
    )
    assert resources["namespaces"]["subresources"][0]["subresource"] == "status"
    code, _, raw = call(k8s, "GET", "/apis", headers={"Accept": accept})
    groups = {g["metadata"]["name"] for g in json.loads(raw)["items"]}
    assert "events.k8s.io" in groups


def test_openapi_documents(k8s: K8sServer) -> None:
    code, _, raw = call(k8s, "GET", "/openapi/v2", headers={"Accept": "application/json"})
    v2 = json.loads(raw)
    cm = v2["definitions"]["io.k8s.api.core.v1.ConfigMap"]
    assert code == 200 and cm["properties"]["metadata"]["$ref"].startswith("#/definitions/")
    containers = v2["definitions"].get("io.k8s.api.core.v1.ObjectReference")
    assert containers is not None
    code, _, raw = call(k8s, "GET", "/openapi/v3")
    url = json.loads(raw)["paths"]["api/v1"]["serverRelativeURL"]
    code, _, raw = call(k8s, "GET", url)
    v3 = json.loads(raw)
    patch = v3["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"]["patch"]
    assert "fieldValidation" in {p["name"] for p in patch["parameters"]}
    owner_refs = v3["components"]["schemas"]["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["properties"][
        "ownerReferences"
    ]
    assert owner_refs["x-kubernetes-patch-merge-key"] == "uid"


def test_watch_bookmarks_and_timeout(k8s: K8sServer) -> None:
    _, _, raw = call(k8s, "GET", "/api/v1/namespaces/kube-public/configmaps")
    rv = json.loads(raw)["metadata"]["resourceVersion"]
    code, _, raw = call(
        k8s, "GET", f"/api/v1/namespaces/kube-public/configmaps?watch=true&resourceVersion={rv}"
        "&allowWatchBookmarks=true&timeoutSeconds=7",
    )  # fmt: skip
    events = [json.loads(line) for line in raw.splitlines() if line.strip()]
    assert code == 200 and events, "a 7 s watch with bookmarks every 5 s sends at least one"
    assert {e["type"] for e in events} == {"BOOKMARK"}
    assert int(events[0]["object"]["metadata"]["resourceVersion"]) >= int(rv)
