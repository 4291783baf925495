"""Published ports and awsvpc-style task namespaces, on the fake and on real Docker."""

from __future__ import annotations

import asyncio
import socket
import urllib.request

from stowage.runtime.awsvpc import create_task_namespace, remove_task_namespace
from stowage.runtime.base import ContainerRuntime, ContainerStatus, PortBinding
from tests.runtime.conftest import Backend
from tests.runtime.helpers import run_to_exit
from tests.support.images import TEST_PAUSE_IMAGE


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _http_get(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=5) as resp:
        return str(resp.read().decode())


async def _get_when_ready(port: int) -> str:
    for _ in range(100):
        try:
            return await asyncio.to_thread(_http_get, port)
        except OSError:
            await asyncio.sleep(0.1)  # httpd not listening yet
    raise AssertionError(f"nothing answered on 127.0.0.1:{port}")


def test_fixed_and_dynamic_ports_are_published_and_answer(backend: Backend) -> None:
    fixed = _free_port()

    async def body(rt: ContainerRuntime) -> None:
        spec = backend.spec(
            "httpd",
            "-f",
            "-p",
            "8080",
            "-h",
            "/www",
            port_bindings=(
                PortBinding(8080, host_port=fixed, host_ip="127.0.0.1"),
                PortBinding(8080, host_port=None, host_ip="127.0.0.1"),  # dynamic (ECS hostPort 0)
            ),
        )
        cid = await rt.create(spec)
        await rt.start(cid)
        state = await rt.inspect(cid)
        assert state.status is ContainerStatus.RUNNING
        host_ports = sorted(p.host_port for p in state.ports if p.container_port == 8080)
        assert len(host_ports) == 2 and fixed in host_ports
        dynamic = next(p for p in host_ports if p != fixed)
        assert dynamic > 0
        assert all(p.protocol == "tcp" and p.host_ip == "127.0.0.1" for p in state.ports)
        if backend.kind == "docker":  # the fake has no sockets
            assert await _get_when_ready(fixed) == "stowage\n"
            assert await _get_when_ready(dynamic) == "stowage\n"

    backend.run(body)


def test_awsvpc_namespace_gives_the_task_its_own_ip_and_shared_localhost(backend: Backend) -> None:
    async def body(rt: ContainerRuntime) -> None:
        net = backend.network()
        ns = await create_task_namespace(
            rt,
            network=net,
            name=f"stowage-test-pause-{backend.case}",
            labels=backend.labels,
            pause_image=TEST_PAUSE_IMAGE,
        )
        assert ns.ipv4.startswith(net.subnet.rsplit(".", 2)[0])  # from the configured subnet
        assert ns.network.subnet == net.subnet
        pause = await rt.inspect(ns.pause_id)
        assert pause.status is ContainerStatus.RUNNING and pause.ip_addresses == {net.name: ns.ipv4}
        # container 1 serves on the task's localhost only; container 2 fetches from localhost
        server = await rt.create(
            backend.spec("httpd", "-f", "-p", "127.0.0.1:8080", "-h", "/www", network=ns.network_mode)
        )
        await rt.start(server)
        fetch = (
            "i=0; while [ $i -lt 100 ]; do wget -q -O- http://127.0.0.1:8080/index.html && exit 0; "
            "i=$((i+1)); sleep 0.1; done; exit 1"
        )
        client = await rt.create(backend.spec("sh", "-c", fetch, network=ns.network_mode))
        if backend.kind == "docker":
            assert await run_to_exit(rt, client) == 0
            assert "stowage" in [ln.line async for ln in rt.logs(client)]
        else:
            await rt.start(client)
        assert (await rt.inspect(server)).status is ContainerStatus.RUNNING
        for cid in (server, client):
            await rt.remove(cid, force=True)
        await remove_task_namespace(rt, ns)
        await rt.remove_network(net.name)

    backend.run(body)


def test_ensure_network_is_idempotent(backend: Backend) -> None:
    async def body(rt: ContainerRuntime) -> None:
        net = backend.network()
        first = await rt.ensure_network(net)
        again = await rt.ensure_network(net)
        assert first == again and first.subnet == net.subnet
        await rt.remove_network(net.name)
        await rt.remove_network(net.name)  # a missing network is a no-op

    backend.run(body)
