"""A placement request's ``excluded`` instances (never used, reported with the caller's reason)
and ``avoid`` instances (used only when nothing else fits): how the Kubernetes API's taints and
cordons reach the shared scheduler."""

from __future__ import annotations

from dataclasses import replace

from stowage.model import placement as pm
from tests.scheduler.harness import host, per_instance, reasons, request, run

SPREAD_INSTANCE = [{"type": "spread", "field": "instanceId"}]
BINPACK_CPU = [{"type": "binpack", "field": "cpu"}]
TAINT = "node(s) had untolerated taint {dedicated: gpu}"


def test_excluded_instances_take_nothing_and_report_the_callers_reason() -> None:
    hosts = [host("a"), host("b"), host("c")]
    req = replace(request(strategy=SPREAD_INSTANCE), excluded={"a": TAINT})
    plan = run(hosts, req, 4)
    assert per_instance(plan) == {"b": 2, "c": 2}
    req = replace(req, excluded={"a": TAINT, "b": TAINT, "c": "node(s) were unschedulable"})
    plan = run(hosts, req, 1)
    assert plan.unplaced == 1
    assert sorted(reasons(plan).values()) == sorted([TAINT, TAINT, "node(s) were unschedulable"])


def test_a_disconnected_agent_is_reported_before_an_exclusion() -> None:
    hosts = [host("a", connected=False), host("b")]
    req = replace(request(cpu=8192), excluded={"a": TAINT})
    plan = run(hosts, req, 1)
    assert reasons(plan) == {"a": pm.AGENT, "b": pm.RESOURCE_CPU}


def test_exclusions_are_part_of_the_memoised_static_filter() -> None:
    from stowage.scheduler.snapshot import Snapshot

    snap = Snapshot([host("a"), host("b")])
    first = run(snap, replace(request(), excluded={"a": TAINT}), 1)
    second = run(snap, replace(request(), excluded={"b": TAINT}), 1)
    assert per_instance(first) == {"b": 1}
    assert per_instance(second) == {"a": 1}


def test_avoided_instances_are_used_last() -> None:
    hosts = [host("a", cpu=1024), host("b", cpu=512), host("c", cpu=512)]
    req = replace(request(256, 64, strategy=SPREAD_INSTANCE), avoid=frozenset({"a"}))
    assert per_instance(run(hosts, req, 2)) == {"b": 1, "c": 1}
    # b and c hold two copies each; only then does a take copies
    assert per_instance(run(hosts, req, 6)) == {"a": 2, "b": 2, "c": 2}
    without = request(256, 64, strategy=SPREAD_INSTANCE)
    assert "a" in per_instance(run(hosts, without, 2))


def test_avoid_goes_before_binpack_and_keeps_its_walk() -> None:
    hosts = [host("tight", cpu=300), host("loose", cpu=4096)]
    req = replace(request(256, 64, strategy=BINPACK_CPU), avoid=frozenset({"tight"}))
    assert per_instance(run(hosts, req, 1)) == {"loose": 1}
    assert per_instance(run(hosts, request(256, 64, strategy=BINPACK_CPU), 1)) == {"tight": 1}
