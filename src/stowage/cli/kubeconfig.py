"""``stowage kubeconfig``: where the kubeconfig of a server's data dir is, or what it says.

The server writes it at start-up (``api/k8s/pki.py``): a cluster entry trusting stowage's CA,
the admin bearer token, and a ``stowage`` context. Use it with
``kubectl --kubeconfig "$(stowage kubeconfig)"`` or ``export KUBECONFIG=$(stowage kubeconfig)``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from stowage.api.k8s.pki import kubeconfig_path


def add_kubeconfig_parser(sub: Any, default_data_dir: Path) -> None:
    p = sub.add_parser("kubeconfig", help="print the path (or --print the contents) of the kubeconfig")
    p.add_argument(
        "--data-dir", type=Path, default=default_data_dir, help="the server's data dir (default ./.stowage)"
    )
    p.add_argument("--print", action="store_true", dest="print_contents", help="print the contents instead")


def run_kubeconfig(args: argparse.Namespace) -> int:
    path = kubeconfig_path(args.data_dir.resolve())
    if not path.exists():
        print(
            f"no kubeconfig in {args.data_dir}: start the server first (stowage server / stowage up)",
            file=sys.stderr,
        )
        return 1
    if args.print_contents:
        sys.stdout.write(path.read_text())
    else:
        print(path)
    return 0
