"""The ``kube-system/aws-auth`` ConfigMap: IAM identities mapped to Kubernetes users and groups,
read in the CONFIG_MAP and API_AND_CONFIG_MAP authentication modes as EKS reads it.

Its ``data`` holds YAML text under three keys:

- ``mapUsers``: ``[{userarn, username, groups}]``, an IAM user (or the account root) by ARN;
- ``mapRoles``: ``[{rolearn, username, groups}]``, an IAM role, matched by the role ARN or by an
  STS assumed-role ARN of that role (the role's path is not part of an assumed-role ARN, so it
  is dropped for the comparison, as aws-iam-authenticator does);
- ``mapAccounts``: account ids whose every identity is mapped, with its ARN as username.

``username`` may use the templates ``{{AccountID}}``, ``{{SessionName}}`` and ``{{SessionNameRaw}}``
(the session name with ``@`` kept). stowage serves no RBAC objects, so the only group that grants
anything is ``system:masters`` (Kubernetes' cluster-admin); other groups are kept and shown to
authorization but allow nothing. A malformed entry or key is skipped, as the authenticator logs
and skips it, so one typo never locks everybody out. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

MASTERS = "system:masters"
NAMESPACE, NAME = "kube-system", "aws-auth"

_ARN = re.compile(r"^arn:aws[a-z-]*:(iam|sts)::(\d{12}):(.+)$")


@dataclass(frozen=True, slots=True)
class KubeIdentity:
    username: str
    groups: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AwsAuth:
    users: dict[str, KubeIdentity]
    """user ARN → mapping."""
    roles: dict[str, KubeIdentity]
    """role ARN without its path (``arn:aws:iam::<account>:role/<name>``) → mapping."""
    accounts: frozenset[str]
    problems: tuple[str, ...] = ()
    """What was skipped and why, for the log."""

    def lookup(self, principal: str) -> KubeIdentity | None:
        """The mapping of an IAM principal ARN, with its username templates filled in."""
        m = _ARN.match(principal)
        if m is None:
            return None
        service, account, resource = m.groups()
        session = ""
        found = self.users.get(principal) if service == "iam" else None
        if found is None and resource.startswith("role/"):
            found = self.roles.get(_role_key(account, resource.rsplit("/", 1)[-1]))
        if found is None and service == "sts" and resource.startswith("assumed-role/"):
            parts = resource.split("/")
            if len(parts) >= 3:
                session = "/".join(parts[2:])
                found = self.roles.get(_role_key(account, parts[1]))
        if found is None and account in self.accounts:
            found = KubeIdentity(principal, ())
        if found is None:
            return None
        name = (
            found.username.replace("{{AccountID}}", account)
            .replace("{{SessionNameRaw}}", session)
            .replace("{{SessionName}}", session.replace("@", "-"))
        )
        return KubeIdentity(name, found.groups)


EMPTY = AwsAuth({}, {}, frozenset())


def _role_key(account: str, role_name: str) -> str:
    return f"arn:aws:iam::{account}:role/{role_name}"


def _entries(data: Mapping[str, Any], key: str, problems: list[str]) -> list[Any]:
    text = data.get(key)
    if not text:
        return []
    try:
        parsed = yaml.safe_load(str(text))
    except yaml.YAMLError as exc:
        problems.append(f"{key}: not YAML ({str(exc).splitlines()[0]})")
        return []
    if not isinstance(parsed, list):
        problems.append(f"{key}: not a list")
        return []
    return parsed


def _mapping(entry: Any, arn_field: str, problems: list[str]) -> tuple[str, KubeIdentity] | None:
    if not isinstance(entry, dict) or not isinstance(entry.get(arn_field), str):
        problems.append(f"an entry without {arn_field}: {entry!r:.80}")
        return None
    arn = entry[arn_field]
    groups = entry.get("groups") or []
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        problems.append(f"{arn}: groups must be a list of strings")
        return None
    username = entry.get("username")
    return arn, KubeIdentity(str(username) if username else arn, tuple(groups))


def parse(configmap: Mapping[str, Any] | None) -> AwsAuth:
    """The mappings of an ``aws-auth`` ConfigMap object (None or no data: nothing mapped)."""
    data = (configmap or {}).get("data") or {}
    problems: list[str] = []
    users: dict[str, KubeIdentity] = {}
    for entry in _entries(data, "mapUsers", problems):
        found = _mapping(entry, "userarn", problems)
        if found is not None:
            users[found[0]] = found[1]
    roles: dict[str, KubeIdentity] = {}
    for entry in _entries(data, "mapRoles", problems):
        found = _mapping(entry, "rolearn", problems)
        if found is None:
            continue
        m = _ARN.match(found[0])
        if m is None or not m.group(3).startswith("role/"):
            problems.append(f"{found[0]}: not a role ARN")
            continue
        roles[_role_key(m.group(2), m.group(3).rsplit("/", 1)[-1])] = found[1]
    accounts = frozenset(str(a) for a in _entries(data, "mapAccounts", problems) if isinstance(a, str | int))
    return AwsAuth(users, roles, accounts, tuple(problems))
