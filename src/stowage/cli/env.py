"""``stowage env``: print ``export`` lines so the AWS CLI and SDKs talk to a local stowage."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from stowage.server import read_client_settings


def print_env(data_dir: Path) -> int:
    settings = read_client_settings(data_dir)
    if settings is None:
        print(
            f"stowage: no credentials in {data_dir}: start the server first "
            f"(`stowage up --data-dir {data_dir}`) or pass --data-dir",
            file=sys.stderr,
        )
        return 1
    for name, value in settings.items():
        print(f"export {name}={shlex.quote(value)}")
    return 0
