"""Taints and tolerations, as upstream's scheduler, node lifecycle and taint-eviction
controllers read them. Pure.

- matching (``tolerates``): a toleration's effect is empty or the taint's; its key is the
  taint's, or empty with ``Exists`` (tolerates every taint); ``Exists`` matches any value,
  ``Equal`` (the default) the taint's value;
- scheduling (``schedule_reason``): a node whose ``spec.unschedulable`` the pod does not
  tolerate "were unschedulable" (NodeUnschedulable runs before TaintToleration), else its
  first NoSchedule/NoExecute taint the pod does not tolerate "had untolerated taint {k: v}";
  PreferNoSchedule taints only rank (``preferred_against``);
- eviction (``eviction_time``): a NoExecute taint not tolerated evicts at once; tolerated with
  ``tolerationSeconds``, the pod goes that long after the taint (or the pod) arrived;
- the taints a node's sync owns (``managed_taints``): ``node.kubernetes.io/unschedulable``
  while ``spec.unschedulable`` (``kubectl cordon``), ``node.kubernetes.io/unreachable``
  (NoSchedule and NoExecute) while the agent is disconnected, and the taints an instance
  carries as attributes ``stowage.io/taint/<key>`` = ``<value>:<Effect>`` (EKS node groups
  write these); ``merge_taints`` keeps a user's own taints (``kubectl taint``) beside them;
- admission (``with_default_tolerations``): DefaultTolerationSeconds' ``not-ready`` and
  ``unreachable`` NoExecute tolerations for 300 s, unless the pod tolerates those already;
- validation of node taints and pod tolerations, with the API server's messages.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from stowage.model.k8s.errors import Cause
from stowage.model.k8s.meta import parse_rfc3339, rfc3339

Obj = dict[str, Any]

NO_SCHEDULE = "NoSchedule"
PREFER_NO_SCHEDULE = "PreferNoSchedule"
NO_EXECUTE = "NoExecute"
EFFECTS = (NO_SCHEDULE, PREFER_NO_SCHEDULE, NO_EXECUTE)
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
UNREACHABLE = "node.kubernetes.io/unreachable"
NOT_READY = "node.kubernetes.io/not-ready"
DEFAULT_TOLERATION_SECONDS = 300
ATTRIBUTE_PREFIX = "stowage.io/taint/"
"""An instance attribute ``stowage.io/taint/<key>`` with value ``<value>:<Effect>`` is a taint
of its node (not a label: the name has two slashes)."""
WERE_UNSCHEDULABLE = "node(s) were unschedulable"

_OPERATORS = ("Equal", "Exists")


# -- matching -----------------------------------------------------------------------------------------
def tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    """Upstream's ``Toleration.ToleratesTaint``."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    # Equal: an empty key only goes with Exists (validation refuses it), so it matches nothing
    return bool(key) and (toleration.get("value") or "") == (taint.get("value") or "")


def tolerated(tolerations: Iterable[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    """Upstream's ``TolerationsTolerateTaint``."""
    return any(tolerates(t, taint) for t in tolerations)


def tolerations_of(pod: Mapping[str, Any]) -> list[Obj]:
    return [t for t in (pod.get("spec") or {}).get("tolerations") or [] if isinstance(t, dict)]


def taints_of(node: Mapping[str, Any]) -> list[Obj]:
    return [t for t in (node.get("spec") or {}).get("taints") or [] if isinstance(t, dict)]


def taint_text(taint: Mapping[str, Any]) -> str:
    """``key=value:Effect`` (``key:Effect`` without a value), as kubectl prints taints."""
    value = taint.get("value") or ""
    return f"{taint.get('key')}{'=' + value if value else ''}:{taint.get('effect')}"


# -- scheduling ---------------------------------------------------------------------------------------
def schedule_reason(node: Mapping[str, Any], tolerations: Sequence[Mapping[str, Any]]) -> str | None:
    """Why the scheduler's filters refuse the node for a pod with ``tolerations`` (None: they do
    not), in the scheduler's words."""
    if (node.get("spec") or {}).get("unschedulable") and not tolerated(
        tolerations, {"key": UNSCHEDULABLE, "effect": NO_SCHEDULE}
    ):
        return WERE_UNSCHEDULABLE
    for taint in taints_of(node):
        if taint.get("effect") in (NO_SCHEDULE, NO_EXECUTE) and not tolerated(tolerations, taint):
            return f"node(s) had untolerated taint {{{taint.get('key')}: {taint.get('value') or ''}}}"
    return None


def preferred_against(node: Mapping[str, Any], tolerations: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the node has a PreferNoSchedule taint the pod does not tolerate (the scheduler
    then prefers other nodes)."""
    return any(
        t.get("effect") == PREFER_NO_SCHEDULE and not tolerated(tolerations, t) for t in taints_of(node)
    )


# -- eviction -----------------------------------------------------------------------------------------
def eviction_time(
    taints: Iterable[Mapping[str, Any]], tolerations: Sequence[Mapping[str, Any]], *, since: float
) -> float | None:
    """When a pod on a node with ``taints`` must go (seconds since the epoch; at or before now
    means at once), or None if its NoExecute tolerations let it stay. ``since``: when the pod
    came to the node; a tolerated taint's clock starts at the later of that and the taint's
    ``timeAdded``. As upstream, the first toleration matching a taint is the one that counts,
    and a ``tolerationSeconds`` of 0 or less evicts at once."""
    when: float | None = None
    for taint in taints:
        if taint.get("effect") != NO_EXECUTE:
            continue
        used = next((t for t in tolerations if tolerates(t, taint)), None)
        if used is None:
            return since if when is None else min(when, since)
        seconds = used.get("tolerationSeconds")
        if seconds is None:
            continue
        added = parse_rfc3339(str(taint.get("timeAdded") or "")) or since
        start = max(added, since)
        at = start if int(seconds) <= 0 else start + int(seconds)
        when = at if when is None else min(when, at)
    return when


# -- a node's own taints -------------------------------------------------------------------------------
def attribute_taints(attributes: Mapping[str, str | None]) -> list[Obj]:
    """The taints an instance carries as ``stowage.io/taint/<key>`` attributes."""
    out: list[Obj] = []
    for name, raw in sorted(attributes.items()):
        if not name.startswith(ATTRIBUTE_PREFIX) or raw is None:
            continue
        value, _, effect = str(raw).rpartition(":")
        if effect in EFFECTS:
            taint: Obj = {"key": name[len(ATTRIBUTE_PREFIX) :], "effect": effect}
            if value:
                taint["value"] = value
            out.append(taint)
    return out


def taint_attributes(taints: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """``attribute_taints``' inverse: the attributes that put ``taints`` on a node."""
    return {
        f"{ATTRIBUTE_PREFIX}{t['key']}": f"{t.get('value') or ''}:{t['effect']}"
        for t in taints
        if t.get("effect") in EFFECTS and t.get("key")
    }


def managed_taints(
    *, unschedulable: bool, connected: bool, attributes: Mapping[str, str | None]
) -> list[Obj]:
    """The taints a node's sync puts on it (see the module docstring), without times."""
    out = attribute_taints(attributes)
    if unschedulable:
        out.append({"key": UNSCHEDULABLE, "effect": NO_SCHEDULE})
    if not connected:
        out.append({"key": UNREACHABLE, "effect": NO_SCHEDULE})
        out.append({"key": UNREACHABLE, "effect": NO_EXECUTE})
    return out


def _ident(taint: Mapping[str, Any]) -> str:
    return f"{taint.get('key')}:{taint.get('effect')}"


def merge_taints(
    old: Sequence[Mapping[str, Any]],
    managed: Sequence[Mapping[str, Any]],
    was_managed: Iterable[str],
    *,
    now: float,
) -> tuple[list[Obj], list[str]]:
    """A node's taints after a sync: the ones it had that the sync did not put there (a user's),
    then ``managed`` (``timeAdded`` kept from before, else ``now``); a user's taint with the
    key and effect of a managed one gives way. Returns the taints and the managed identities
    (``key:Effect``) to remember for the next sync (``was_managed``)."""
    previous = set(was_managed)
    mine = {_ident(t) for t in managed}
    before = {_ident(t): t for t in old}
    out = [dict(t) for t in old if _ident(t) not in previous and _ident(t) not in mine]
    for taint in managed:
        entry = dict(taint)
        prior = before.get(_ident(taint))
        same = prior is not None and (prior.get("value") or "") == (taint.get("value") or "")
        entry["timeAdded"] = (
            prior.get("timeAdded") if same and prior and prior.get("timeAdded") else rfc3339(now)
        )
        out.append(entry)
    return out, sorted(mine)


def stamp_no_execute(taints: Sequence[Mapping[str, Any]], *, now: float) -> list[Obj]:
    """NoExecute taints get a ``timeAdded`` (the API server's node strategy sets it), so their
    ``tolerationSeconds`` run from when they came."""
    out = []
    for t in taints:
        entry = dict(t)
        if entry.get("effect") == NO_EXECUTE and not entry.get("timeAdded"):
            entry["timeAdded"] = rfc3339(now)
        out.append(entry)
    return out


# -- admission ----------------------------------------------------------------------------------------
def with_default_tolerations(tolerations: Sequence[Any]) -> list[Any]:
    """DefaultTolerationSeconds: ``not-ready`` and ``unreachable`` NoExecute for 300 s, each
    unless a toleration of the pod already covers that key (or every key) for NoExecute."""
    out: list[Any] = [dict(t) if isinstance(t, Mapping) else t for t in tolerations]
    for key in (NOT_READY, UNREACHABLE):
        covered = any(
            isinstance(t, dict)
            and (t.get("key") or "") in ("", key)
            and (t.get("effect") or "") in ("", NO_EXECUTE)
            for t in out
        )
        if not covered:
            out.append(
                {
                    "key": key,
                    "operator": "Exists",
                    "effect": NO_EXECUTE,
                    "tolerationSeconds": DEFAULT_TOLERATION_SECONDS,
                }
            )
    return out


# -- validation ----------------------------------------------------------------------------------------
def _effect_causes(effect: Any, field: str, *, required: bool) -> list[Cause]:
    if not effect:
        return [Cause("FieldValueRequired", "Required value", field)] if required else []
    if effect not in EFFECTS:
        supported = ", ".join(f'"{e}"' for e in EFFECTS)
        return [
            Cause(
                "FieldValueNotSupported",
                f'Unsupported value: "{effect}": supported values: {supported}',
                field,
            )
        ]
    return []


def validate_node(node: Obj) -> list[Cause]:
    """``spec.taints``: an effect of the three, a key, unique by key and effect."""
    causes: list[Cause] = []
    seen: set[str] = set()
    for i, taint in enumerate((node.get("spec") or {}).get("taints") or []):
        field = f"spec.taints[{i}]"
        if not isinstance(taint, dict):
            causes.append(Cause("FieldValueInvalid", "Invalid value: a taint must be an object", field))
            continue
        if not taint.get("key"):
            causes.append(Cause("FieldValueRequired", "Required value", f"{field}.key"))
        causes.extend(_effect_causes(taint.get("effect"), f"{field}.effect", required=True))
        ident = _ident(taint)
        if ident in seen:
            causes.append(
                Cause(
                    "FieldValueDuplicate",
                    "Duplicate value: taints must be unique by key and effect pair",
                    field,
                )
            )
        seen.add(ident)
    return causes


def validate_tolerations(pod: Mapping[str, Any]) -> list[Cause]:
    """``spec.tolerations``: the API server's rules on operator, key, value and seconds."""
    causes: list[Cause] = []
    for i, t in enumerate((pod.get("spec") or {}).get("tolerations") or []):
        field = f"spec.tolerations[{i}]"
        if not isinstance(t, dict):
            causes.append(Cause("FieldValueInvalid", "Invalid value: a toleration must be an object", field))
            continue
        operator = t.get("operator") or "Equal"
        if not t.get("key") and operator != "Exists":
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    f'Invalid value: "{operator}": operator must be Exists '
                    'when `key` is empty, which means "match all values and all keys"',
                    f"{field}.operator",
                )
            )
        if t.get("tolerationSeconds") is not None and t.get("effect") != NO_EXECUTE:
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    f'Invalid value: "{t.get("effect") or ""}": effect must '
                    "be 'NoExecute' when `tolerationSeconds` is set",
                    f"{field}.effect",
                )
            )
        if operator not in _OPERATORS:
            causes.append(
                Cause(
                    "FieldValueNotSupported",
                    f'Unsupported value: "{operator}": supported values: "Equal", "Exists"',
                    f"{field}.operator",
                )
            )
        elif operator == "Exists" and t.get("value"):
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    f"Invalid value: \"{t.get('value')}\": value must be empty when `operator` is 'Exists'",
                    f"{field}.operator",
                )
            )
        causes.extend(_effect_causes(t.get("effect"), f"{field}.effect", required=False))
    return causes
