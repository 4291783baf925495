"""Access entries and policies: the creator is a cluster admin; another IAM identity can do
nothing until given an entry and a policy; a view-only identity reads but gets 403 Forbidden on
writes (kubectl with its own credentials); namespace scopes confine a policy."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import yaml
from botocore.exceptions import ClientError

from tests.api.eks.support import EksEnv, create_cluster, unique
from tests.support.server import ACCOUNT_ID

POLICY = "arn:aws:eks::aws:cluster-access-policy/"
API_MODE = {"authenticationMode": "API_AND_CONFIG_MAP"}


def test_creator_entry_and_access_entry_api(env: EksEnv, eks: Any) -> None:
    name = unique("acc")
    create_cluster(eks, name, accessConfig=API_MODE)
    root = f"arn:aws:iam::{ACCOUNT_ID}:root"
    assert eks.list_access_entries(clusterName=name)["accessEntries"] == [root]
    policies = eks.list_associated_access_policies(clusterName=name, principalArn=root)
    assert [p["policyArn"] for p in policies["associatedAccessPolicies"]] == [
        POLICY + "AmazonEKSClusterAdminPolicy"
    ]
    names = {p["name"] for p in eks.list_access_policies()["accessPolicies"]}
    assert {"AmazonEKSClusterAdminPolicy", "AmazonEKSAdminPolicy", "AmazonEKSEditPolicy",
            "AmazonEKSViewPolicy"} <= names  # fmt: skip

    user = f"arn:aws:iam::{ACCOUNT_ID}:user/alice"
    entry = eks.create_access_entry(clusterName=name, principalArn=user, kubernetesGroups=["devs"])
    assert entry["accessEntry"]["username"] == user
    assert entry["accessEntry"]["type"] == "STANDARD"
    with pytest.raises(ClientError) as exc:
        eks.create_access_entry(clusterName=name, principalArn=user)
    assert exc.value.response["Error"]["Code"] == "ResourceInUseException"
    with pytest.raises(ClientError) as exc:
        eks.create_access_entry(
            clusterName=name, principalArn=user + "2", kubernetesGroups=["system:masters"]
        )
    assert exc.value.response["Error"]["Code"] == "InvalidParameterException"
    with pytest.raises(ClientError) as exc:
        eks.associate_access_policy(
            clusterName=name, principalArn=user, policyArn=POLICY + "AmazonEKSViewPolicy",
            accessScope={"type": "namespace"},
        )  # fmt: skip
    assert exc.value.response["Error"]["Code"] == "InvalidParameterException"
    assoc = eks.associate_access_policy(
        clusterName=name, principalArn=user, policyArn=POLICY + "AmazonEKSViewPolicy",
        accessScope={"type": "cluster"},
    )  # fmt: skip
    assert assoc["associatedAccessPolicy"]["accessScope"]["type"] == "cluster"
    filtered = eks.list_access_entries(clusterName=name, associatedPolicyArn=POLICY + "AmazonEKSViewPolicy")
    assert filtered["accessEntries"] == [user]
    arn = eks.describe_access_entry(clusterName=name, principalArn=user)["accessEntry"]["accessEntryArn"]
    eks.tag_resource(resourceArn=arn, tags={"who": "alice"})
    assert eks.list_tags_for_resource(resourceArn=arn)["tags"] == {"who": "alice"}
    eks.disassociate_access_policy(
        clusterName=name, principalArn=user, policyArn=POLICY + "AmazonEKSViewPolicy"
    )
    assert (
        eks.list_associated_access_policies(clusterName=name, principalArn=user)["associatedAccessPolicies"]
        == []
    )
    eks.delete_access_entry(clusterName=name, principalArn=user)
    with pytest.raises(ClientError) as exc:
        eks.describe_access_entry(clusterName=name, principalArn=user)
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"
    eks.delete_cluster(name=name)


def test_view_only_identity_reads_but_cannot_write(env: EksEnv, eks: Any) -> None:
    name = unique("view")
    create_cluster(eks, name, accessConfig=API_MODE)
    viewer = env.add_user(unique("viewer"))
    admin_config = env.kubeconfig_for(name)
    env.kubectl(admin_config, "create", "configmap", "shared", "--from-literal=k=v")
    env.kubectl(admin_config, "create", "secret", "generic", "hidden", "--from-literal=p=s")

    config = env.kubeconfig_for(name, viewer)  # the viewer's own credentials sign its token
    nothing = env.kubectl(config, "get", "cm", key=viewer, check=False)
    # a valid token of an identity with no access entry: EKS's 401, not a 403
    assert nothing.returncode != 0 and "You must be logged in to the server" in nothing.stderr, nothing.stderr

    eks.create_access_entry(clusterName=name, principalArn=viewer.arn)
    eks.associate_access_policy(
        clusterName=name, principalArn=viewer.arn, policyArn=POLICY + "AmazonEKSViewPolicy",
        accessScope={"type": "cluster"},
    )  # fmt: skip
    assert "shared" in env.kubectl(config, "get", "cm", key=viewer).stdout
    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: mine, namespace: default}\ndata: {a: b}\n"
    denied = env.kubectl(config, "apply", "-f", "-", input=manifest, key=viewer, check=False)
    assert denied.returncode != 0
    assert "Error from server (Forbidden)" in denied.stderr
    assert (
        f'configmaps "mine" is forbidden: User "{viewer.arn}" cannot get resource "configmaps" in API group '
        '"" in the namespace "default"'
    ) not in denied.stderr  # reading is allowed: it is the create that is refused
    assert (
        f'configmaps is forbidden: User "{viewer.arn}" cannot create resource "configmaps" in API group "" '
        'in the namespace "default"'
    ) in denied.stderr
    for verb in (["delete", "cm", "shared"], ["get", "secret", "hidden"], ["get", "nodes"]):
        refused = env.kubectl(config, *verb, key=viewer, check=False)
        assert refused.returncode != 0 and "Forbidden" in refused.stderr, verb
    assert "shared" in env.kubectl(admin_config, "get", "cm").stdout  # nothing was deleted
    eks.delete_cluster(name=name)


def test_namespace_scoped_edit(env: EksEnv, eks: Any) -> None:
    name = unique("scope")
    create_cluster(eks, name, accessConfig=API_MODE)
    dev = env.add_user(unique("dev"))
    admin_config = env.kubeconfig_for(name)
    for ns in ("team-a", "team-b"):
        env.kubectl(admin_config, "create", "namespace", ns)
    eks.create_access_entry(clusterName=name, principalArn=dev.arn, username="dev")
    eks.associate_access_policy(
        clusterName=name, principalArn=dev.arn, policyArn=POLICY + "AmazonEKSEditPolicy",
        accessScope={"type": "namespace", "namespaces": ["team-a"]},
    )  # fmt: skip
    config = env.kubeconfig_for(name, dev)
    env.kubectl(config, "-n", "team-a", "create", "configmap", "ok", "--from-literal=a=b", key=dev)
    other = env.kubectl(config, "-n", "team-b", "create", "configmap", "no", "--from-literal=a=b", key=dev,
                        check=False)  # fmt: skip
    assert other.returncode != 0
    assert 'User "dev" cannot create resource "configmaps" in API group "" in the namespace "team-b"' in (
        other.stderr
    )
    everywhere = env.kubectl(config, "get", "cm", "-A", key=dev, check=False)
    assert everywhere.returncode != 0 and "at the cluster scope" in everywhere.stderr
    eks.delete_cluster(name=name)


def test_creator_in_config_map_mode_and_bootstrap_off(env: EksEnv, eks: Any) -> None:
    implicit = unique("cm")
    create_cluster(eks, implicit)  # CONFIG_MAP: the creator is admin without a visible entry
    assert "default" in env.kubectl(env.kubeconfig_for(implicit), "get", "ns").stdout
    none = unique("noboot")
    create_cluster(
        eks,
        none,
        accessConfig={"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False},
    )
    assert eks.list_access_entries(clusterName=none)["accessEntries"] == []
    refused = env.kubectl(env.kubeconfig_for(none), "get", "ns", check=False)
    assert refused.returncode != 0 and "You must be logged in to the server" in refused.stderr, refused.stderr
    eks.delete_cluster(name=implicit)
    eks.delete_cluster(name=none)


def test_aws_auth_config_map_maps_identities(env: EksEnv, eks: Any) -> None:
    name = unique("awsauth")
    create_cluster(eks, name)  # CONFIG_MAP mode: aws-auth is how others get in
    alice = env.add_user(unique("alice"))
    admin_config = env.kubeconfig_for(name)
    config = env.kubeconfig_for(name, alice)
    unknown = env.kubectl(config, "get", "cm", key=alice, check=False)
    assert unknown.returncode != 0 and "You must be logged in to the server" in unknown.stderr, unknown.stderr

    def map_alice(groups: list[str]) -> None:
        users = [{"userarn": alice.arn, "username": "alice-{{AccountID}}", "groups": groups}]
        manifest = {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "aws-auth", "namespace": "kube-system"},
            "data": {"mapUsers": yaml.safe_dump(users), "mapRoles": "- this is: [not a list of roles"},
        }  # fmt: skip
        env.kubectl(admin_config, "apply", "-f", "-", input=json.dumps(manifest))

    # mapped into a group that grants nothing (no RBAC objects): known, so 403 with the username
    map_alice(["developers"])
    denied = _eventually_kubectl(env, config, alice, ["get", "cm"], "Forbidden")
    assert f'User "alice-{ACCOUNT_ID}" cannot list resource "configmaps"' in denied

    # system:masters is cluster-admin (the malformed mapRoles is skipped, not fatal)
    map_alice(["system:masters"])
    _eventually_kubectl(env, config, alice, ["create", "configmap", "by-alice", "--from-literal=a=b"], "")
    assert "by-alice" in env.kubectl(admin_config, "get", "cm").stdout

    # in API mode aws-auth is not read any more: alice is unknown again
    eks.update_cluster_config(name=name, accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"})
    eks.get_waiter("cluster_active").wait(name=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    eks.update_cluster_config(name=name, accessConfig={"authenticationMode": "API"})
    _eventually_kubectl(env, config, alice, ["get", "cm"], "You must be logged in")
    eks.delete_cluster(name=name)


def _eventually_kubectl(env: EksEnv, config: Any, who: Any, args: list[str], expect: str) -> str:
    """Run kubectl as ``who`` until it fails with ``expect`` in its stderr (or succeeds, when
    ``expect`` is empty): the index follows aws-auth and the cluster record by watches."""
    deadline = time.monotonic() + 20
    while True:
        out = env.kubectl(config, *args, key=who, check=False)
        if (out.returncode == 0) if not expect else (out.returncode != 0 and expect in out.stderr):
            return str(out.stderr)
        assert time.monotonic() < deadline, f"kubectl {args}: {out.returncode} {out.stderr}"
        time.sleep(0.3)
