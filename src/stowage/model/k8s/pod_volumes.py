"""A pod's volumes as its task carries them: which ECS volume and mount point each Kubernetes
volume becomes, and the files of the configMap, secret, downwardAPI and projected volumes,
resolved the way the kubelet resolves them. Pure: the pod controller reads the ConfigMaps and
Secrets, the agent writes the files (``agent/projected_files.py``).

::

    volume source              task definition volume         where the content comes from
    emptyDir                   {"host": {}} (task scratch)    the engine (a Docker volume)
    hostPath                   {"host": {"sourcePath": p}}    the host
    configMap / secret /       {"host": {}} + the files in    the control plane, at placement:
    downwardAPI / projected    ``TaskSpec.volume_files``      the agent writes them to a per-task
                                                              host directory, bound read-only

Files follow the kubelet: without ``items`` every key is a file named after the key; ``items``
pick keys and remap them to relative paths (subdirectories allowed), ``mode`` per item wins
over ``defaultMode`` (0644 for all four sources, Secrets included); a ConfigMap's
``binaryData`` is written as bytes, a Secret's ``data`` base64-decoded. A missing ConfigMap or
Secret (or a missing key named in ``items``) is the kubelet's FailedMount unless the source
is ``optional``; then it is an empty volume (or the key is skipped). These volumes are always
mounted read-only, as the kubelet does. ``subPath`` mounts one file or subdirectory of a
volume (the ``subPath`` member of the ECS mount point is stowage's: the agent binds that part).
A pod whose volumes cannot be set up waits with the status of ``waiting_status``.

The files are fixed when the pod is placed: a later change of the ConfigMap or Secret reaches
the pod when it is recreated (``kubectl rollout restart``), not in place as on a kubelet.
"""

from __future__ import annotations

import base64
import binascii
import math
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stowage.model.k8s import init_containers
from stowage.model.k8s import pod_status as ps
from stowage.model.k8s.errors import Cause
from stowage.model.k8s.quantity import QuantityError, parse_quantity

Obj = dict[str, Any]

DEFAULT_MODE = 0o644
MAX_MODE = 0o777
_MODE_RANGE = "must be a number between 0 and 0777 (octal), both inclusive"
_SERVED = "emptyDir, hostPath, configMap, secret, downwardAPI and projected are"
FILE_SOURCES = ("configMap", "secret", "downwardAPI", "projected")
"""Volume sources whose content the control plane resolves into files."""
SUPPORTED_SOURCES = ("emptyDir", "hostPath", *FILE_SOURCES)
_DOWNWARD_FIELDS = frozenset(
    {"metadata.name", "metadata.namespace", "metadata.uid", "metadata.labels", "metadata.annotations"}
)
_RESOURCES = frozenset(
    f"{kind}.{res}" for kind in ("limits", "requests") for res in ("cpu", "memory", "ephemeral-storage")
)


class MountError(ValueError):
    """A volume cannot be set up yet (the kubelet's FailedMount); ``str(exc)`` is its event
    message."""

    def __init__(self, volume: str, reason: str) -> None:
        super().__init__(f'MountVolume.SetUp failed for volume "{volume}" : {reason}')
        self.volume = volume
        self.reason = reason


@dataclass(frozen=True, slots=True)
class File:
    path: str
    """Relative to the volume's root (``a/b.txt``)."""
    mode: int
    data: bytes


Contents = Mapping[tuple[str, str], Mapping[str, bytes]]
"""``(kind, name)`` → key → bytes, for the ConfigMaps (``configmaps``) and Secrets
(``secrets``) that exist."""


# -- which objects a pod's volumes read -----------------------------------------------------------
def _sources_of(volume: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """(kind, source) of each ConfigMap/Secret a volume reads, projected ones included."""
    out: list[tuple[str, Mapping[str, Any]]] = []
    if volume.get("configMap") is not None:
        out.append(("configmaps", volume["configMap"]))
    if volume.get("secret") is not None:
        out.append(("secrets", volume["secret"]))
    for source in (volume.get("projected") or {}).get("sources") or []:
        if source.get("configMap") is not None:
            out.append(("configmaps", source["configMap"]))
        if source.get("secret") is not None:
            out.append(("secrets", source["secret"]))
    return out


def _object_name(kind: str, source: Mapping[str, Any]) -> str:
    # A secret volume names its Secret ``secretName``; a projected secret source, ``name``.
    return str(source.get("secretName") or source.get("name") or "")


def volume_refs(pod: Mapping[str, Any]) -> set[tuple[str, str]]:
    """``(kind, name)`` of every ConfigMap/Secret the pod's volumes read."""
    return {
        (kind, _object_name(kind, source))
        for volume in (pod.get("spec") or {}).get("volumes") or []
        for kind, source in _sources_of(volume)
    }


def object_bytes(kind: str, obj: Mapping[str, Any]) -> dict[str, bytes]:
    """A ConfigMap's ``data`` (UTF-8) and ``binaryData``, or a Secret's ``data``, as bytes."""
    out: dict[str, bytes] = {}
    if kind == "configmaps":
        for k, v in (obj.get("data") or {}).items():
            out[str(k)] = str(v).encode()
        encoded = obj.get("binaryData") or {}
    else:
        encoded = obj.get("data") or {}
    for k, v in encoded.items():
        try:
            out[str(k)] = base64.b64decode(str(v), validate=True)
        except (binascii.Error, ValueError):
            continue  # the API server refuses these; a stored one is skipped, not fatal
    return out


# -- the files of one volume -------------------------------------------------------------------------
def _label(kind: str) -> str:
    return "configmap" if kind == "configmaps" else "secret"


def _keyed_files(
    volume: str, kind: str, source: Mapping[str, Any], contents: Contents, default_mode: int
) -> list[File]:
    name = _object_name(kind, source)
    data = contents.get((kind, name))
    optional = bool(source.get("optional"))
    if data is None:
        if optional:
            return []
        raise MountError(volume, f'{_label(kind)} "{name}" not found')
    items = source.get("items")
    if not items:
        return [File(key, default_mode, value) for key, value in sorted(data.items())]
    files: list[File] = []
    for item in items:
        key = str(item.get("key", ""))
        if key not in data:
            if optional:
                continue
            what = "config key" if kind == "configmaps" else "secret key"
            raise MountError(volume, f"{_label(kind)} references non-existent {what}: {key}")
        mode = item.get("mode")
        path = str(item.get("path", ""))
        files.append(File(path, int(mode) if mode is not None else default_mode, data[key]))
    return files


def format_map(values: Mapping[str, Any]) -> str:
    """Labels or annotations as the kubelet writes them: ``key="value"`` lines, sorted."""
    return "\n".join(f"{k}={_go_quote(str(v))}" for k, v in sorted(values.items()))


def _go_quote(text: str) -> str:
    """A double-quoted string with Go's escapes for the characters that need one."""
    escapes = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
    out = []
    for ch in text:
        if ch in escapes:
            out.append(escapes[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def downward_value(pod: Mapping[str, Any], item: Mapping[str, Any]) -> str:
    """The content of one downwardAPI item (``fieldRef`` or ``resourceFieldRef``)."""
    meta = pod.get("metadata") or {}
    field_ref = item.get("fieldRef")
    if field_ref is not None:
        path = str(field_ref.get("fieldPath", ""))
        if path in ("metadata.labels", "metadata.annotations"):
            return format_map(meta.get(path.split(".", 1)[1]) or {})
        for prefix, member in (("metadata.labels", "labels"), ("metadata.annotations", "annotations")):
            if path.startswith(prefix + "['") and path.endswith("']"):
                return str((meta.get(member) or {}).get(path[len(prefix) + 2 : -2], ""))
        return str(meta.get(path.removeprefix("metadata."), "") or "")
    ref = item.get("resourceFieldRef") or {}
    return resource_value(pod, ref)


def resource_value(pod: Mapping[str, Any], ref: Mapping[str, Any]) -> str:
    """A container's request or limit divided by ``divisor`` (default 1), rounded up, as the
    kubelet computes it. A limit not set reads as 0 here (the kubelet would use the node's
    allocatable, which the control plane does not know at this point)."""
    wanted = str(ref.get("containerName", ""))
    spec = pod.get("spec") or {}
    containers = [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]
    container: Mapping[str, Any] = next((c for c in containers if c.get("name") == wanted), {})
    kind, _, res = str(ref.get("resource", "")).partition(".")
    value = ((container.get("resources") or {}).get(kind) or {}).get(res)
    if value is None:
        return "0"
    try:
        amount = parse_quantity(value) / parse_quantity(ref.get("divisor") or "1")
    except (QuantityError, ArithmeticError):
        return "0"
    return str(max(0, math.ceil(amount)))


def _downward_files(pod: Mapping[str, Any], source: Mapping[str, Any], default_mode: int) -> list[File]:
    files = []
    for item in source.get("items") or []:
        mode = item.get("mode")
        files.append(
            File(
                str(item.get("path", "")),
                int(mode) if mode is not None else default_mode,
                downward_value(pod, item).encode(),
            )
        )
    return files


def _mode(source: Mapping[str, Any]) -> int:
    mode = source.get("defaultMode")
    return int(mode) if mode is not None else DEFAULT_MODE


def volume_files(pod: Mapping[str, Any], volume: Mapping[str, Any], contents: Contents) -> list[File] | None:
    """The files of one volume (None: not a file volume). Raises ``MountError``."""
    name = str(volume.get("name", ""))
    if volume.get("configMap") is not None:
        return _keyed_files(name, "configmaps", volume["configMap"], contents, _mode(volume["configMap"]))
    if volume.get("secret") is not None:
        return _keyed_files(name, "secrets", volume["secret"], contents, _mode(volume["secret"]))
    if volume.get("downwardAPI") is not None:
        return _downward_files(pod, volume["downwardAPI"], _mode(volume["downwardAPI"]))
    if volume.get("projected") is None:
        return None
    projected = volume["projected"]
    mode = _mode(projected)
    files: list[File] = []
    missing: list[str] = []
    for source in projected.get("sources") or []:
        try:
            for kind, member in (("configmaps", "configMap"), ("secrets", "secret")):
                if source.get(member) is not None:
                    # A projected source has no defaultMode of its own: the volume's applies.
                    files.extend(_keyed_files(name, kind, source[member], contents, mode))
        except MountError as exc:
            missing.append(exc.reason)
        if source.get("downwardAPI") is not None:
            files.extend(_downward_files(pod, source["downwardAPI"], mode))
    if missing:
        raise MountError(name, missing[0] if len(missing) == 1 else "[" + ", ".join(missing) + "]")
    return files


def pod_files(pod: Mapping[str, Any], contents: Contents) -> dict[str, list[File]]:
    """Volume name → its files, for every file volume of the pod. Raises ``MountError`` for
    the first volume that cannot be set up."""
    out: dict[str, list[File]] = {}
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        files = volume_files(pod, volume, contents)
        if files is not None:
            out[str(volume.get("name", ""))] = files
    return out


def encode_files(files: Mapping[str, list[File]]) -> dict[str, list[Obj]]:
    """The ``TaskSpec.volume_files`` member: path, mode and base64 data per file."""
    return {
        name: [{"path": f.path, "mode": f.mode, "data": base64.b64encode(f.data).decode()} for f in entries]
        for name, entries in files.items()
    }


def waiting_status(pod: Mapping[str, Any], *, now: float) -> Obj:
    """The status of a pod whose volumes cannot be set up yet: Pending, its containers
    waiting ``ContainerCreating`` (``PodInitializing`` with init containers), as the kubelet
    shows it while it retries the mount."""
    status = ps.config_error_status(pod, "", now=now)
    for c in status.get("containerStatuses") or []:
        c["state"] = {"waiting": {"reason": "ContainerCreating"}}
    return init_containers.with_init_status(pod, None, status, now=now)


# -- the task definition's side -------------------------------------------------------------------
def is_file_volume(volume: Mapping[str, Any]) -> bool:
    return any(volume.get(source) is not None for source in FILE_SOURCES)


def ecs_volumes(pod: Mapping[str, Any]) -> list[Obj]:
    """``emptyDir`` → a task-scoped scratch volume (removed with the task), ``hostPath`` → a
    host bind mount, a file volume → a volume whose files the task spec carries."""
    out: list[Obj] = []
    for v in (pod.get("spec") or {}).get("volumes") or []:
        if v.get("hostPath"):
            out.append({"name": v["name"], "host": {"sourcePath": str(v["hostPath"].get("path", ""))}})
        elif "emptyDir" in v or is_file_volume(v):
            out.append({"name": v["name"], "host": {}})
    return out


def mount_points(pod: Mapping[str, Any], container: Mapping[str, Any]) -> list[Obj]:
    """The container's ECS ``mountPoints``; file volumes are always read-only."""
    read_only = {
        str(v.get("name")) for v in (pod.get("spec") or {}).get("volumes") or [] if is_file_volume(v)
    }
    out: list[Obj] = []
    for vm in container.get("volumeMounts") or []:
        name = str(vm["name"])
        mount: Obj = {
            "sourceVolume": name,
            "containerPath": str(vm["mountPath"]),
            "readOnly": bool(vm.get("readOnly", False)) or name in read_only,
        }
        if vm.get("subPath"):
            mount["subPath"] = str(vm["subPath"])
        out.append(mount)
    return out


# -- validation (what the API server refuses at create) -----------------------------------------
def _bad_path(path: str) -> str | None:
    if not path:
        return "Required value"
    if posixpath.isabs(path):
        return "must be a relative path"
    if ".." in path.split("/"):
        return "must not contain '..'"
    return None


def _check_mode(value: Any, field: str, causes: list[Cause]) -> None:
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_MODE:
        causes.append(Cause("FieldValueInvalid", f"Invalid value: {value}: {_MODE_RANGE}", field))


def _check_items(items: Any, field: str, causes: list[Cause], *, keyed: bool) -> set[str]:
    paths: set[str] = set()
    for j, item in enumerate(items or []):
        where = f"{field}.items[{j}]"
        if keyed and not item.get("key"):
            causes.append(Cause("FieldValueRequired", "Required value", f"{where}.key"))
        path = str(item.get("path") or "")
        problem = _bad_path(path)
        if problem is not None:
            kind = "FieldValueRequired" if not path else "FieldValueInvalid"
            causes.append(
                Cause(kind, problem if not path else f"Invalid value: {path!r}: {problem}", f"{where}.path")
            )
        paths.add(path)
        _check_mode(item.get("mode"), f"{where}.mode", causes)
        if not keyed:
            _check_downward_item(item, where, causes)
    return paths


def _check_downward_item(item: Mapping[str, Any], where: str, causes: list[Cause]) -> None:
    field_ref, resource_ref = item.get("fieldRef"), item.get("resourceFieldRef")
    if (field_ref is None) == (resource_ref is None):
        causes.append(
            Cause(
                "FieldValueInvalid",
                "Invalid value: must specify exactly one of fieldRef and resourceFieldRef",
                where,
            )
        )
        return
    if field_ref is not None:
        path = str(field_ref.get("fieldPath", ""))
        subscripted = path.startswith(("metadata.labels['", "metadata.annotations['")) and path.endswith("']")
        if path not in _DOWNWARD_FIELDS and not subscripted:
            causes.append(
                Cause(
                    "FieldValueNotSupported",
                    f'Unsupported value: "{path}": supported values: '
                    '"metadata.annotations", "metadata.labels", "metadata.name", '
                    '"metadata.namespace", "metadata.uid"',
                    f"{where}.fieldRef.fieldPath",
                )
            )
        return
    assert resource_ref is not None
    if not resource_ref.get("containerName"):
        causes.append(
            Cause("FieldValueRequired", "Required value", f"{where}.resourceFieldRef.containerName")
        )
    if str(resource_ref.get("resource", "")) not in _RESOURCES:
        causes.append(
            Cause(
                "FieldValueNotSupported",
                f'Unsupported value: "{resource_ref.get("resource")}"',
                f"{where}.resourceFieldRef.resource",
            )
        )


def _check_keyed(source: Mapping[str, Any], kind: str, field: str, causes: list[Cause]) -> set[str]:
    if not _object_name(kind, source):
        member = "secretName" if "secretName" in source or field.endswith(".secret") else "name"
        causes.append(Cause("FieldValueRequired", "Required value", f"{field}.{member}"))
    return _check_items(source.get("items"), field, causes, keyed=True)


def _check_projected(projected: Mapping[str, Any], field: str, causes: list[Cause]) -> None:
    _check_mode(projected.get("defaultMode"), f"{field}.defaultMode", causes)
    seen: set[str] = set()
    for j, source in enumerate(projected.get("sources") or []):
        where = f"{field}.sources[{j}]"
        given = [k for k, v in source.items() if v is not None]
        if len(given) != 1:
            causes.append(
                Cause(
                    "FieldValueForbidden",
                    "may not specify more than 1 volume type per source"
                    if given
                    else "must specify a volume type",
                    where,
                )
            )
            continue
        kind = given[0]
        if kind == "configMap":
            paths = _check_keyed(source["configMap"], "configmaps", f"{where}.configMap", causes)
        elif kind == "secret":
            paths = _check_keyed(source["secret"], "secrets", f"{where}.secret", causes)
        elif kind == "downwardAPI":
            paths = _check_items(
                source["downwardAPI"].get("items"), f"{where}.downwardAPI", causes, keyed=False
            )
        else:
            causes.append(
                Cause(
                    "FieldValueNotSupported",
                    f"{kind} projections are not supported by this stowage release "
                    "(configMap, secret and downwardAPI are)",
                    f"{where}.{kind}",
                )
            )
            continue
        for path in sorted(paths & seen):
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    f"Invalid value: {path!r}: conflicting duplicate paths",
                    f"{where}.{kind}.items",
                )
            )
        seen |= paths


def validate_volumes(pod: Mapping[str, Any]) -> list[Cause]:
    """The volume and volumeMount checks of the API server's pod validation, for the sources
    stowage serves; other sources are refused as not supported."""
    spec = pod.get("spec") or {}
    causes: list[Cause] = []
    kinds: dict[str, str] = {}
    for i, volume in enumerate(spec.get("volumes") or []):
        field = f"spec.volumes[{i}]"
        name = str(volume.get("name") or "")
        if not name:
            causes.append(Cause("FieldValueRequired", "Required value", f"{field}.name"))
        elif name in kinds:
            causes.append(Cause("FieldValueDuplicate", f'Duplicate value: "{name}"', f"{field}.name"))
        given = [k for k, v in volume.items() if k != "name" and v is not None]
        if len(given) > 1:
            causes.append(Cause("FieldValueForbidden", "may not specify more than 1 volume type", field))
            continue
        kind = given[0] if given else "emptyDir"  # the API server's default source
        kinds.setdefault(name, kind)
        if kind not in SUPPORTED_SOURCES:
            message = f"{kind} volumes are not supported by this stowage release ({_SERVED})"
            causes.append(Cause("FieldValueNotSupported", message, f"spec.volumes[{name}]"))
            continue
        source = volume.get(kind) or {}
        where = f"{field}.{kind}"
        if kind in ("configMap", "secret", "downwardAPI"):
            _check_mode(source.get("defaultMode"), f"{where}.defaultMode", causes)
        if kind == "configMap":
            _check_keyed(source, "configmaps", where, causes)
        elif kind == "secret":
            _check_keyed(source, "secrets", where, causes)
        elif kind == "downwardAPI":
            _check_items(source.get("items"), where, causes, keyed=False)
        elif kind == "projected":
            _check_projected(source, where, causes)
    for group in ("initContainers", "containers"):
        for i, c in enumerate(spec.get(group) or []):
            causes.extend(_check_mounts(c, f"spec.{group}[{i}]", kinds))
    return causes


def _check_mounts(container: Mapping[str, Any], field: str, kinds: Mapping[str, str]) -> list[Cause]:
    causes: list[Cause] = []
    paths: set[str] = set()
    for j, vm in enumerate(container.get("volumeMounts") or []):
        where = f"{field}.volumeMounts[{j}]"
        name = str(vm.get("name") or "")
        if name not in kinds:
            causes.append(Cause("FieldValueNotFound", f'Not found: "{name}"', f"{field}.volumeMounts.name"))
        mount_path = str(vm.get("mountPath") or "")
        if not mount_path:
            causes.append(Cause("FieldValueRequired", "Required value", f"{where}.mountPath"))
        elif mount_path in paths:
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    f'Invalid value: "{mount_path}": must be unique',
                    f"{where}.mountPath",
                )
            )
        paths.add(mount_path)
        if vm.get("subPathExpr"):
            causes.append(
                Cause(
                    "FieldValueNotSupported",
                    "subPathExpr is not supported by this stowage release",
                    f"{where}.subPathExpr",
                )
            )
        sub = str(vm.get("subPath") or "")
        if not sub:
            continue
        problem = _bad_path(sub)
        if problem is not None:
            causes.append(
                Cause("FieldValueInvalid", f"Invalid value: {sub!r}: {problem}", f"{where}.subPath")
            )
        elif kinds.get(name) == "emptyDir":
            # The engine's volumes cannot be mounted in part (Docker < 26 has no volume subpath).
            causes.append(
                Cause(
                    "FieldValueNotSupported",
                    "subPath on an emptyDir volume is not supported by this stowage release",
                    f"{where}.subPath",
                )
            )
    return causes
