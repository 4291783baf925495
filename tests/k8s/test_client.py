"""The official Python client against stowage: CRUD, optimistic concurrency, the three patch
types and server-side apply, selectors, pagination, watch (and its resume after a 410),
owner references and garbage collection, deletecollection, events in both API groups."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client, watch

from tests.k8s.inproc import InProcessK8s


def cm(
    name: str, data: dict[str, str] | None = None, labels: dict[str, str] | None = None, **meta: Any
) -> Any:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels=labels, **meta), data=data)


def eventually(check: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def missing(read: Callable[[], Any]) -> bool:
    try:
        read()
    except client.ApiException as e:
        return e.status == 404
    return False


def test_crud_and_conflict(core: Any, namespace: str) -> None:
    created = core.create_namespaced_config_map(namespace, cm("a", {"k": "v"}))
    assert created.metadata.uid and created.metadata.creation_timestamp
    assert int(created.metadata.resource_version) > 0
    with pytest.raises(client.ApiException) as exists:
        core.create_namespaced_config_map(namespace, cm("a"))
    assert exists.value.status == 409 and "AlreadyExists" in exists.value.body

    stale = core.read_namespaced_config_map("a", namespace)
    fresh = core.read_namespaced_config_map("a", namespace)
    fresh.data = {"k": "v2"}
    updated = core.replace_namespaced_config_map("a", namespace, fresh)
    assert int(updated.metadata.resource_version) > int(stale.metadata.resource_version)
    stale.data = {"k": "lost update"}
    with pytest.raises(client.ApiException) as conflict:
        core.replace_namespaced_config_map("a", namespace, stale)
    assert conflict.value.status == 409 and "Conflict" in conflict.value.body
    assert core.read_namespaced_config_map("a", namespace).data == {"k": "v2"}

    core.delete_namespaced_config_map("a", namespace)
    with pytest.raises(client.ApiException) as gone:
        core.read_namespaced_config_map("a", namespace)
    assert gone.value.status == 404 and "NotFound" in gone.value.body


def test_three_patch_types_and_apply(core: Any, namespace: str) -> None:
    core.create_namespaced_config_map(namespace, cm("p", {"a": "1"}, {"x": "1"}))
    core.patch_namespaced_config_map(
        "p", namespace, {"data": {"b": "2"}}, _content_type="application/strategic-merge-patch+json"
    )
    core.patch_namespaced_config_map(
        "p",
        namespace,
        {"metadata": {"labels": {"x": None, "y": "2"}}},
        _content_type="application/merge-patch+json",
    )
    core.patch_namespaced_config_map(
        "p", namespace, [{"op": "replace", "path": "/data/a", "value": "one"}],
        _content_type="application/json-patch+json",
    )  # fmt: skip
    got = core.read_namespaced_config_map("p", namespace)
    assert got.data == {"a": "one", "b": "2"} and got.metadata.labels == {"y": "2"}
    with pytest.raises(client.ApiException) as failed:
        core.patch_namespaced_config_map(
            "p", namespace, [{"op": "test", "path": "/data/a", "value": "nope"}],
            _content_type="application/json-patch+json",
        )  # fmt: skip
    assert failed.value.status == 422

    applied = core.patch_namespaced_config_map(
        "fresh", namespace,
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "fresh"}, "data": {"z": "26"}},
        field_manager="tests", _content_type="application/apply-patch+yaml",
    )  # fmt: skip
    assert applied.data == {"z": "26"}  # created by server-side apply


def test_selectors_and_pagination(core: Any, namespace: str) -> None:
    for i in range(7):
        core.create_namespaced_config_map(
            namespace, cm(f"c{i}", labels={"parity": "even" if i % 2 == 0 else "odd"})
        )
    even = core.list_namespaced_config_map(namespace, label_selector="parity=even")
    assert sorted(i.metadata.name for i in even.items) == ["c0", "c2", "c4", "c6"]
    by_name = core.list_namespaced_config_map(namespace, field_selector="metadata.name=c3")
    assert [i.metadata.name for i in by_name.items] == ["c3"]
    not_name = core.list_namespaced_config_map(
        namespace, field_selector="metadata.name!=c3,metadata.namespace=" + namespace
    )
    assert "c3" not in {i.metadata.name for i in not_name.items} and len(not_name.items) == 6
    with pytest.raises(client.ApiException) as bad_field:
        core.list_namespaced_config_map(namespace, field_selector="spec.nodeName=x")
    assert bad_field.value.status == 400

    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = core.list_namespaced_config_map(namespace, limit=3, _continue=token, label_selector="parity")
        seen += [i.metadata.name for i in page.items]
        pages += 1
        token = page.metadata._continue
        if not token:
            break
    assert seen == [f"c{i}" for i in range(7)] and pages == 3

    everywhere = core.list_config_map_for_all_namespaces(label_selector="parity=odd")
    assert {i.metadata.name for i in everywhere.items} == {"c1", "c3", "c5"}


def test_watch_from_resource_version(core: Any, namespace: str) -> None:
    start = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.create_namespaced_config_map(namespace, cm("w", {"a": "1"}))
    core.patch_namespaced_config_map("w", namespace, {"data": {"a": "2"}})
    core.delete_namespaced_config_map("w", namespace)
    events = []
    for ev in watch.Watch().stream(
        core.list_namespaced_config_map, namespace, resource_version=start, timeout_seconds=2
    ):
        events.append((ev["type"], ev["object"].metadata.name, (ev["object"].data or {}).get("a")))
        if len(events) == 3:
            break
    assert events == [("ADDED", "w", "1"), ("MODIFIED", "w", "2"), ("DELETED", "w", "2")]


def test_watch_without_version_starts_with_added(core: Any, namespace: str) -> None:
    core.create_namespaced_config_map(namespace, cm("pre", {"a": "1"}))
    stream = watch.Watch().stream(core.list_namespaced_config_map, namespace, timeout_seconds=2)
    first = next(stream)
    assert first["type"] == "ADDED" and first["object"].metadata.name == "pre"


def test_garbage_collection(core: Any, namespace: str) -> None:
    def owned(name: str, owner: Any) -> Any:
        ref = client.V1OwnerReference(
            api_version="v1", kind="ConfigMap", name=owner.metadata.name, uid=owner.metadata.uid
        )
        return cm(name, owner_references=[ref])

    # Background: the owner goes at once, the collector removes the dependent after
    owner = core.create_namespaced_config_map(namespace, cm("owner-bg"))
    core.create_namespaced_config_map(namespace, owned("dep-bg", owner))
    core.delete_namespaced_config_map("owner-bg", namespace, propagation_policy="Background")
    eventually(lambda: missing(lambda: core.read_namespaced_config_map("dep-bg", namespace)))

    # Orphan: the dependent stays, without its owner reference
    owner = core.create_namespaced_config_map(namespace, cm("owner-or"))
    core.create_namespaced_config_map(namespace, owned("dep-or", owner))
    core.delete_namespaced_config_map("owner-or", namespace, propagation_policy="Orphan")
    eventually(lambda: missing(lambda: core.read_namespaced_config_map("owner-or", namespace)))
    assert not core.read_namespaced_config_map("dep-or", namespace).metadata.owner_references

    # Foreground: the owner waits (deletionTimestamp + finalizer) until its dependents are gone
    owner = core.create_namespaced_config_map(namespace, cm("owner-fg"))
    dep = owned("dep-fg", owner)
    dep.metadata.finalizers = ["test/hold"]
    core.create_namespaced_config_map(namespace, dep)
    core.delete_namespaced_config_map("owner-fg", namespace, propagation_policy="Foreground")
    pending = core.read_namespaced_config_map("owner-fg", namespace)
    assert pending.metadata.deletion_timestamp and "foregroundDeletion" in pending.metadata.finalizers
    eventually(
        lambda: core.read_namespaced_config_map("dep-fg", namespace).metadata.deletion_timestamp is not None
    )
    assert core.read_namespaced_config_map("owner-fg", namespace).metadata.deletion_timestamp
    core.patch_namespaced_config_map("dep-fg", namespace, {"metadata": {"finalizers": None}})
    eventually(lambda: missing(lambda: core.read_namespaced_config_map("owner-fg", namespace)))
    assert missing(lambda: core.read_namespaced_config_map("dep-fg", namespace))


def test_delete_collection_and_secrets(core: Any, namespace: str) -> None:
    for i in range(3):
        core.create_namespaced_secret(
            namespace,
            client.V1Secret(
                metadata=client.V1ObjectMeta(name=f"s{i}", labels={"g": "x"}), string_data={"k": str(i)}
            ),
        )
    assert core.read_namespaced_secret("s1", namespace).data == {"k": "MQ=="}
    core.delete_collection_namespaced_secret(namespace, label_selector="g=x")
    assert core.list_namespaced_secret(namespace, label_selector="g=x").items == []


def test_namespace_terminating_blocks_creates(core: Any) -> None:
    name = f"t-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    core.create_namespaced_config_map(name, cm("held", finalizers=["test/hold"]))
    core.delete_namespace(name)
    ns = core.read_namespace(name)
    assert ns.status.phase == "Terminating" and ns.metadata.deletion_timestamp
    with pytest.raises(client.ApiException) as forbidden:
        core.create_namespaced_config_map(name, cm("late"))
    assert forbidden.value.status == 403
    eventually(lambda: core.read_namespaced_config_map("held", name).metadata.deletion_timestamp is not None)
    core.patch_namespaced_config_map("held", name, {"metadata": {"finalizers": None}})
    eventually(lambda: missing(lambda: core.read_namespace(name)))


def test_events_in_two_groups(api_client: Any, core: Any, namespace: str) -> None:
    ev = client.CoreV1Event(
        metadata=client.V1ObjectMeta(name="e1"),
        involved_object=client.V1ObjectReference(kind="ConfigMap", name="x", namespace=namespace),
        reason="Tested", message="hello", type="Normal",
    )  # fmt: skip
    core.create_namespaced_event(namespace, ev)
    listed = core.list_namespaced_event(namespace, field_selector="involvedObject.name=x,reason=Tested")
    assert [e.message for e in listed.items] == ["hello"]
    v1 = client.EventsV1Api(api_client).read_namespaced_event("e1", namespace)
    assert v1.note == "hello" and v1.regarding.name == "x"


@pytest.fixture(scope="module")
def inproc() -> Iterator[InProcessK8s]:
    server = InProcessK8s()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_watch_resumes_after_expired(inproc: InProcessK8s) -> None:
    core = client.CoreV1Api(inproc.client())
    start = core.list_namespaced_config_map("default").metadata.resource_version
    for i in range(5):
        core.create_namespaced_config_map("default", cm(f"old{i}"))
    current = inproc.call(inproc.store.revision())
    inproc.call(inproc.store.compact(current))
    with pytest.raises(client.ApiException) as expired:
        for _ in watch.Watch().stream(
            core.list_namespaced_config_map, "default", resource_version=start, timeout_seconds=2
        ):
            pass
    assert expired.value.status == 410
    # the client's recovery: re-list, then watch from the list's version
    listed = core.list_namespaced_config_map("default")
    assert {f"old{i}" for i in range(5)} <= {i.metadata.name for i in listed.items}
    core.create_namespaced_config_map("default", cm("after"))
    got = next(
        iter(watch.Watch().stream(
            core.list_namespaced_config_map, "default",
            resource_version=listed.metadata.resource_version, timeout_seconds=2,
        ))
    )  # fmt: skip
    assert got["type"] == "ADDED" and got["object"].metadata.name == "after"
