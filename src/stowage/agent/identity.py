"""The agent's identity on disk: which container instance it is, across restarts.

The state directory holds ``identity.json``: the container instance ARN the control plane gave
at the first registration, the cluster, and a host id (``i-`` + 17 hex digits, the shape of an
EC2 instance id) that goes into the instance identity document. A restarted agent re-registers
with the saved ARN and so stays the same instance, and finds its containers by that ARN.
Writes are atomic (temp file + rename): a kill -9 mid-write leaves the old file.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import orjson

_FILE = "identity.json"


@dataclass(frozen=True, slots=True)
class Identity:
    host_id: str
    cluster: str = ""
    instance_arn: str = ""


def new_host_id() -> str:
    return "i-" + secrets.token_hex(9)[:17]


def load_identity(state_dir: Path) -> Identity:
    path = state_dir / _FILE
    try:
        raw = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return Identity(host_id=new_host_id())
    return Identity(
        host_id=str(raw.get("hostId") or new_host_id()),
        cluster=str(raw.get("cluster") or ""),
        instance_arn=str(raw.get("containerInstanceArn") or ""),
    )


def save_identity(state_dir: Path, identity: Identity) -> None:
    write_atomic(
        state_dir / _FILE,
        orjson.dumps(
            {
                "hostId": identity.host_id,
                "cluster": identity.cluster,
                "containerInstanceArn": identity.instance_arn,
            },
            option=orjson.OPT_INDENT_2,
        ),
    )


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
