"""The files of a task's file volumes (``TaskSpec.volume_files``: Kubernetes configMap, secret,
downwardAPI and projected volumes) on this host: written before the task's containers are
created, bound into them, removed with the task.

Layout: ``<state dir>/volumes/<task id>/<volume>/<path>``. The state dir and each task's
directory are 0700 (only the agent reads a Secret's files on the host); a volume's own
directory is 0755 and each file has the mode the spec gives (0644 by default), because that
directory is what the container sees at its mount path. Files are written to a temporary name
and renamed, so a container started again after an agent restart never reads half a file.

The bind source must be a path the engine can see: the engine runs on this machine, as it must
for ``hostPath`` volumes too.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import posixpath
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

ROOT = "volumes"
_PRIVATE = 0o700
_VOLUME_DIR = 0o755


class FilesError(Exception):
    """The files cannot be written (``str(exc)`` says why)."""


def _task_id(task_arn: str) -> str:
    return task_arn.rsplit("/", 1)[-1]


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "_.-" else "-" for ch in name) or "-"


def root(state_dir: Path) -> Path:
    return state_dir.resolve() / ROOT


def task_dir(state_dir: Path, task_arn: str) -> Path:
    return root(state_dir) / _safe(_task_id(task_arn))


def volume_dir(state_dir: Path, task_arn: str, volume: str) -> Path:
    return task_dir(state_dir, task_arn) / _safe(volume)


def relative(path: str) -> str:
    """``path`` normalised, refused when absolute or leaving its directory."""
    clean = posixpath.normpath(path)
    if not path or posixpath.isabs(path) or clean == ".." or clean.startswith("../"):
        raise FilesError(f"invalid path {path!r}: must be relative and stay inside the volume")
    return clean


def write_task_files(state_dir: Path, task_arn: str, volumes: Mapping[str, list[dict[str, Any]]]) -> None:
    """Write every volume's files. Raises ``FilesError``."""
    if not volumes:
        return
    try:
        base = root(state_dir)
        for directory in (base, task_dir(state_dir, task_arn)):
            directory.mkdir(mode=_PRIVATE, parents=True, exist_ok=True)
            directory.chmod(_PRIVATE)
        for volume, files in volumes.items():
            _write_volume(volume_dir(state_dir, task_arn, volume), files)
    except OSError as exc:
        raise FilesError(f"{exc.filename or ''}: {exc.strerror or exc}") from exc


def _write_volume(directory: Path, files: Iterable[Mapping[str, Any]]) -> None:
    directory.mkdir(mode=_VOLUME_DIR, exist_ok=True)
    directory.chmod(_VOLUME_DIR)
    for entry in files:
        target = directory / relative(str(entry.get("path", "")))
        try:
            data = base64.b64decode(str(entry.get("data", "")), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise FilesError(f"{entry.get('path')}: content is not base64") from exc
        if target.parent != directory:
            target.parent.mkdir(mode=_VOLUME_DIR, parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
            os.fchmod(fd, int(entry.get("mode", 0o644)) & 0o777)
        finally:
            os.close(fd)
        os.replace(temporary, target)


def sub_path(source: str, sub: str) -> str:
    """The host path of ``sub`` inside a bound directory, created as a directory when it does
    not exist (as the kubelet does for a missing subPath). Raises ``FilesError``."""
    path = os.path.join(source, relative(sub))
    if not os.path.lexists(path):
        try:
            os.makedirs(path, mode=_VOLUME_DIR, exist_ok=True)
        except OSError as exc:
            raise FilesError(f"{path}: {exc.strerror or exc}") from exc
    return path


def remove_task_files(state_dir: Path, task_arn: str) -> None:
    """Remove a task's files (nothing to do when it had none)."""
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(task_dir(state_dir, task_arn))


def sweep(state_dir: Path, keep: Iterable[str]) -> list[str]:
    """Remove the files of every task not in ``keep`` (task ARNs or ids): what an agent that
    stopped before it could clean up left behind. Returns the task ids removed."""
    base = root(state_dir)
    if not base.is_dir():
        return []
    kept = {_safe(_task_id(k)) for k in keep}
    removed = []
    for entry in base.iterdir():
        if entry.name not in kept and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
    return removed
