"""The pure EKS rules: what each access policy allows, node group status and config changes,
Fargate profile matching, cluster version upgrades, token shape checks."""

from __future__ import annotations

import pytest

from stowage.model.eks import access, clusters, fargate_profiles, nodegroups, tokens


def _req(verb: str, resource: str, namespace: str = "default", namespaced: bool = True) -> access.Request:
    return access.Request(verb, resource, namespace if namespaced else "", namespaced)


@pytest.mark.parametrize(
    ("policy", "request_", "allowed"),
    [
        (access.CLUSTER_ADMIN, _req("delete", "nodes", namespaced=False), True),
        (access.CLUSTER_ADMIN, _req("create", "namespaces", namespaced=False), True),
        (access.ADMIN, _req("create", "pods"), True),
        (access.ADMIN, _req("get", "secrets"), True),
        (access.ADMIN, _req("list", "namespaces", namespaced=False), True),
        (access.ADMIN, _req("create", "namespaces", namespaced=False), False),
        (access.ADMIN, _req("list", "nodes", namespaced=False), False),
        (access.EDIT, _req("patch", "deployments"), True),
        (access.VIEW, _req("list", "pods"), True),
        (access.VIEW, _req("watch", "configmaps"), True),
        (access.VIEW, _req("get", "secrets"), False),
        (access.VIEW, _req("create", "configmaps"), False),
        (access.VIEW, _req("delete", "pods"), False),
    ],
)
def test_policy_table(policy: str, request_: access.Request, allowed: bool) -> None:
    assert access.allows([access.Grant(policy, None)], request_) is allowed


def test_namespace_scopes() -> None:
    grant = access.Grant(access.EDIT, ("team-a", "dev-*"))
    assert access.allows([grant], _req("create", "pods", "team-a"))
    assert access.allows([grant], _req("create", "pods", "dev-42"))
    assert not access.allows([grant], _req("create", "pods", "team-b"))
    assert not access.allows([grant], _req("list", "pods", ""))  # across every namespace
    assert not access.allows([grant], _req("list", "namespaces", namespaced=False))
    assert not access.allows([], _req("get", "pods"))


def test_principals_and_usernames() -> None:
    assert (
        access.default_username("arn:aws:iam::123456789012:user/alice")
        == "arn:aws:iam::123456789012:user/alice"
    )
    assert access.default_username("arn:aws:iam::123456789012:role/ops/admin") == (
        "arn:aws:sts::123456789012:assumed-role/admin/{{SessionName}}"
    )
    with pytest.raises(access.Invalid):
        access.check_principal("arn:aws:s3:::bucket")
    with pytest.raises(access.Invalid):
        access.check_groups(["system:masters"])
    with pytest.raises(access.Invalid):
        access.check_scope({"type": "namespace", "namespaces": []})


def test_upgrades_go_one_minor_version_at_a_time() -> None:
    clusters.check_upgrade("1.30", "1.31")
    for current, target in [("1.30", "1.32"), ("1.31", "1.30"), ("1.31", "1.31"), ("1.32", "1.33")]:
        with pytest.raises(clusters.Invalid):
            clusters.check_upgrade(current, target)


def _group(desired: int, status: str) -> dict[str, object]:
    return {
        "nodegroupName": "ng",
        "status": status,
        "scalingConfig": {"minSize": 0, "maxSize": 5, "desiredSize": desired},
    }


def test_nodegroup_status_follows_joined_nodes() -> None:
    assert nodegroups.status_for(_group(2, "CREATING"), 1)[0] == "CREATING"
    assert nodegroups.status_for(_group(2, "CREATING"), 2)[0] == "ACTIVE"
    assert nodegroups.status_for(_group(0, "CREATING"), 0)[0] == "ACTIVE"
    status, health = nodegroups.status_for(_group(3, "ACTIVE"), 1)
    assert status == "DEGRADED" and health["issues"][0]["message"].startswith("2 of 3")
    assert nodegroups.status_for(_group(3, "DEGRADED"), 3) == ("ACTIVE", {"issues": []})


def test_nodegroup_config_changes_and_checks() -> None:
    doc = {"labels": {"a": "1", "b": "2"}, "taints": [{"key": "t", "value": "x", "effect": "NO_SCHEDULE"}],
           "scalingConfig": {"minSize": 1, "maxSize": 3, "desiredSize": 2}}  # fmt: skip
    out = nodegroups.with_config(
        doc,
        {
            "labels": {"addOrUpdateLabels": {"b": "3", "c": "4"}, "removeLabels": ["a"]},
            "taints": {"removeTaints": [{"key": "t"}]},
            "scalingConfig": {"desiredSize": 3},
        },
    )
    assert out["labels"] == {"b": "3", "c": "4"} and out["taints"] == []
    assert out["scalingConfig"] == {"minSize": 1, "maxSize": 3, "desiredSize": 3}
    for bad in (
        {"minSize": 2, "maxSize": 1, "desiredSize": 1},
        {"minSize": 0, "maxSize": 2, "desiredSize": 3},
    ):
        with pytest.raises(nodegroups.Invalid):
            nodegroups.check_scaling(bad)
    with pytest.raises(nodegroups.Invalid):
        nodegroups.check_labels({"bad key!": "x"})


def _profile(name: str, *selectors: dict[str, object], status: str = "ACTIVE") -> dict[str, object]:
    return {"fargateProfileName": name, "status": status, "selectors": list(selectors)}


def test_fargate_profile_matching() -> None:
    web = _profile("web", {"namespace": "web", "labels": {"run": "fargate"}})
    batch = _profile("batch", {"namespace": "batch-*"})
    other = _profile("all-web", {"namespace": "web"})
    creating = _profile("new", {"namespace": "web"}, status="CREATING")
    profiles = [web, batch, other, creating]
    assert fargate_profiles.pick(profiles, "batch-7", {})["fargateProfileName"] == "batch"  # type: ignore[index]
    assert fargate_profiles.pick(profiles, "web", {"run": "fargate"})["fargateProfileName"] == "all-web"  # type: ignore[index]
    chosen = fargate_profiles.pick(profiles, "web", {"run": "fargate", fargate_profiles.PROFILE_LABEL: "web"})
    assert chosen is not None and chosen["fargateProfileName"] == "web"
    assert fargate_profiles.pick(profiles, "default", {}) is None
    with pytest.raises(fargate_profiles.Invalid):
        fargate_profiles.check_selectors([{"namespace": f"n{i}"} for i in range(6)])


def test_token_shape_checks() -> None:
    for bad in ("Bearer x", "k8s-aws-v1.", "k8s-aws-v1." + "A" * 9000):
        with pytest.raises(tokens.BadToken):
            tokens.parse(bad)
    assert tokens.window(1000.0, 1000.0 + 899) == 1900.0
    assert tokens.window(1000.0, 1900.0) is None
    assert tokens.window(1000.0 + 901, 1000.0) is None  # signed too far in the future
