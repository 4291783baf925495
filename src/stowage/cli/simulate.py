"""`stowage simulate`: run N simulated hosts against a control plane, to rehearse capacity.

    stowage simulate --endpoint http://127.0.0.1:8080 --cluster sim --hosts 300 \\
        [--cpu 4096 --memory 16384 --zones 3] [--attributes k=v,...] [--state-dir DIR]

Each host is the real agent over an in-memory engine (see `stowage.simulation`): it registers a
container instance with the given CPU and memory, ``ecs.availability-zone`` round-robin over
``--zones`` zones, takes tasks placed on it, "runs" their containers instantly, stops them on
StopTask and reports state and stats, so "would my services fit on 300 hosts?" is answered by
the real scheduler. The cluster is created if it does not exist.

On Ctrl-C (or SIGTERM) the hosts' agents stop and, as in ECS when an agent stops, their
container instances stay registered (shown with ``agentConnected`` false); running the same
command again with the same ``--state-dir`` reconnects the same instances. ``--deregister``
deregisters them instead (force: their tasks are stopped).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import TextIO

from stowage.cli.agent import _attributes

log = logging.getLogger("stowage.simulate")


def add_simulate_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("simulate", help="run simulated hosts against a control plane (capacity rehearsal)")
    p.add_argument(
        "--endpoint", default=os.environ.get("STOWAGE_ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL")
    )
    p.add_argument("--cluster", default="default")
    p.add_argument("--hosts", type=int, required=True, help="how many hosts to simulate")
    p.add_argument("--cpu", type=int, default=4096, help="CPU units per host (default 4096)")
    p.add_argument("--memory", type=int, default=16384, help="memory MiB per host (default 16384)")
    p.add_argument("--zones", type=int, default=3, help="availability zones, round-robin (default 3)")
    p.add_argument("--attributes", type=_attributes, default={}, help="custom attributes: k=v,k2=v2")
    p.add_argument("--instance-type", default="", help="ecs.instance-type to advertise")
    p.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="where host identities are kept (default ./.stowage-simulate/<cluster>)",
    )
    p.add_argument("--poll-wait", type=int, default=20, help="long-poll seconds (jittered down by 25%%)")
    p.add_argument("--stats-interval", type=float, default=20.0, help="seconds between stats reports")
    p.add_argument("--register-concurrency", type=int, default=16, help="registrations in flight")
    p.add_argument("--deregister", action="store_true", help="deregister the hosts on exit")
    p.add_argument("--region", default=None, help="default: AWS_DEFAULT_REGION or us-east-1")
    p.add_argument("--access-key-id", default=None)
    p.add_argument("--secret-access-key", default=None)
    p.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])


def run_simulate(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not args.endpoint:
        log.error("no control plane: pass --endpoint URL (or set STOWAGE_ENDPOINT)")
        return 2
    if args.hosts < 1:
        log.error("--hosts must be at least 1")
        return 2
    try:
        return asyncio.run(_main(args))
    except KeyboardInterrupt:
        return 130


def _line(p: object, elapsed: float) -> str:
    from stowage.simulation.fleet import Progress

    assert isinstance(p, Progress)
    rate = p.registered / elapsed if elapsed > 0 else 0.0
    failed = f", {p.failed} failed" if p.failed else ""
    return (
        f"hosts {p.hosts}: registered {p.registered}, connected {p.connected}{failed} "
        f"({rate:.0f}/s, {elapsed:.1f}s) | tasks {p.tasks}, containers running {p.containers}"
    )


async def _main(args: argparse.Namespace) -> int:
    from stowage.client import (
        ApiError,
        ClientError,
        ControlPlaneClients,
        credentials_from_env,
        region_from_env,
    )
    from stowage.simulation.fleet import Fleet, FleetSpec, pool_size

    try:
        credentials = credentials_from_env(args.access_key_id, args.secret_access_key)
    except ValueError as exc:
        log.error("%s", exc)
        return 2
    region = region_from_env(args.region)
    spec = FleetSpec(
        cluster=args.cluster,
        hosts=args.hosts,
        state_dir=args.state_dir or Path(".stowage-simulate") / args.cluster,
        cpu=args.cpu,
        memory=args.memory,
        zones=args.zones,
        region=region,
        attributes=args.attributes,
        instance_type=args.instance_type,
        poll_wait_s=max(1, min(60, args.poll_wait)),
        stats_interval_s=max(1.0, args.stats_interval),
        register_concurrency=args.register_concurrency,
    )
    # Thousands of agents keep a large, long-lived heap: with the default thresholds the
    # cyclic GC rescans it every few hundred allocations. Collect far less often.
    gc.set_threshold(50_000, 50, 100)
    clients = ControlPlaneClients(args.endpoint, credentials, region, pool_size=pool_size(args.hosts))
    fleet = Fleet(spec, clients)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    out: TextIO = sys.stdout
    tty = out.isatty()
    try:
        try:
            await fleet.ensure_cluster()
        except ClientError as exc:
            log.error("cannot use cluster %s at %s: %s", spec.cluster, args.endpoint, exc)
            return 1
        started = time.monotonic()
        fleet.start()
        # Registration: a live progress line on a terminal, else one line every few seconds.
        last_print = 0.0
        while not stop.is_set():
            p = fleet.progress()
            now = time.monotonic()
            done = p.connected + p.failed >= p.hosts
            if tty:
                out.write("\r\x1b[K" + _line(p, now - started))
                out.flush()
            elif now - last_print >= 5.0 and not done:
                print(_line(p, now - started), file=out, flush=True)
                last_print = now
            if done:
                break
            await _wait(stop, 0.25)
        gc.freeze()  # the fleet as registered is permanent: keep it out of every collection
        p = fleet.progress()
        summary = (
            f"simulate: {p.registered}/{p.hosts} hosts registered, {p.connected} connected "
            f"in {time.monotonic() - started:.1f}s on cluster {spec.cluster} "
            f"({spec.zones} zones, {spec.cpu} CPU / {spec.memory} MiB each)"
        )
        print(("\n" if tty else "") + summary, file=out, flush=True)
        if fleet.errors:
            first = fleet.errors[0]
            kind = "refused" if isinstance(first, ApiError) else "failed"
            print(f"simulate: {len(fleet.errors)} hosts {kind}: {first}", file=out, flush=True)
        # Then run until told to stop, with a status line now and then.
        while not stop.is_set():
            await _wait(stop, 1.0 if tty else 30.0)
            line = _line(fleet.progress(), time.monotonic() - started)
            if tty:
                out.write("\r\x1b[K" + line)
                out.flush()
            elif not stop.is_set():
                print(line, file=out, flush=True)
        if tty:
            out.write("\n")
        print(
            "simulate: stopping; "
            + ("deregistering the hosts" if args.deregister else "the instances stay registered"),
            file=out,
            flush=True,
        )
        await fleet.stop(deregister=args.deregister)
    finally:
        await fleet.stop()
        await clients.close()
    return 0


async def _wait(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)
