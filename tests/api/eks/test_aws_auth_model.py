"""aws-auth parsing and lookup (model/eks/aws_auth): users, roles, assumed roles, accounts,
username templates, and malformed entries skipped."""

from __future__ import annotations

import yaml

from stowage.model.eks import aws_auth

ACCOUNT = "123456789012"


def _cm(**data: object) -> dict[str, object]:
    return {"data": {k: v if isinstance(v, str) else yaml.safe_dump(v) for k, v in data.items()}}


def test_users_roles_and_accounts() -> None:
    auth = aws_auth.parse(
        _cm(
            mapUsers=[{"userarn": f"arn:aws:iam::{ACCOUNT}:user/alice", "username": "alice",
                       "groups": ["system:masters"]}],
            mapRoles=[{"rolearn": f"arn:aws:iam::{ACCOUNT}:role/teams/dev", "username":
                       "dev:{{AccountID}}:{{SessionName}}", "groups": ["devs"]}],
            mapAccounts=["210987654321"],
        )
    )  # fmt: skip
    alice = auth.lookup(f"arn:aws:iam::{ACCOUNT}:user/alice")
    assert alice == aws_auth.KubeIdentity("alice", ("system:masters",))
    # an assumed-role ARN carries no role path: matched by the role's name
    dev = auth.lookup(f"arn:aws:sts::{ACCOUNT}:assumed-role/dev/bob@example.com")
    assert dev == aws_auth.KubeIdentity(f"dev:{ACCOUNT}:bob-example.com", ("devs",))
    assert auth.lookup(f"arn:aws:iam::{ACCOUNT}:role/dev") is not None
    other = "arn:aws:iam::210987654321:user/carol"
    assert auth.lookup(other) == aws_auth.KubeIdentity(other, ())
    assert auth.lookup(f"arn:aws:iam::{ACCOUNT}:user/mallory") is None
    assert auth.lookup("not an arn") is None
    assert auth.problems == ()


def test_malformed_parts_are_skipped_and_reported() -> None:
    auth = aws_auth.parse(
        _cm(
            mapUsers="- [unclosed",
            mapRoles=[{"username": "no-arn"}, {"rolearn": f"arn:aws:iam::{ACCOUNT}:user/x"},
                      {"rolearn": f"arn:aws:iam::{ACCOUNT}:role/ok", "groups": "notalist"},
                      {"rolearn": f"arn:aws:iam::{ACCOUNT}:role/fine"}],
        )
    )  # fmt: skip
    assert len(auth.problems) == 4
    fine = auth.lookup(f"arn:aws:iam::{ACCOUNT}:role/fine")
    assert fine == aws_auth.KubeIdentity(f"arn:aws:iam::{ACCOUNT}:role/fine", ())
    assert auth.lookup(f"arn:aws:iam::{ACCOUNT}:role/ok") is None
    assert aws_auth.parse(None) == aws_auth.EMPTY
    assert aws_auth.parse({"data": {}}).lookup(f"arn:aws:iam::{ACCOUNT}:root") is None
