"""Access entries and policies: the creator is a cluster admin; another IAM identity can do
nothing until given an entry and a policy; a view-only identity reads but gets 403 Forbidden on
writes (kubectl with its own credentials); namespace scopes confine a policy."""

from __future__ import annotations

from typing import Any

import pytest
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
    assert nothing.returncode != 0 and "Forbidden" in nothing.stderr  # known identity, no entry

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
    assert refused.returncode != 0 and "Forbidden" in refused.stderr
    eks.delete_cluster(name=implicit)
    eks.delete_cluster(name=none)
