"""`DockerRuntime`: the ContainerRuntime over the Docker Engine API (and Podman's compatible socket).

Built on aiodocker (asyncio, aio-libs) for the transport: it resolves DOCKER_HOST / contexts /
TLS / unix sockets, negotiates the API version and turns engine errors into `DockerError`.
Requests go through its `_query`/`_query_json` so every call is exactly one Engine API round
trip we chose (its higher-level helpers add inspects, e.g. before every log read, and drop the
stdout/stderr stream id). aiodocker is pinned below its next minor release for that reason.

The start path is two requests (POST /containers/create, POST /containers/{id}/start): the API
version is negotiated once in `connect`, nothing is inspected in between.

Podman: only endpoints that its compat API serves are used; stats' `one-shot` (Docker-only
before API 1.41) falls back to a plain one-sample read when rejected.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, NoReturn, cast

import aiodocker
from aiodocker.exceptions import DockerError
from yarl import URL

from stowage.runtime import task_cgroups
from stowage.runtime.base import (
    EXEC_OUTPUT_LIMIT,
    ContainerConflictError,
    ContainerNotFoundError,
    ContainerRuntimeError,
    ContainerSpec,
    ContainerStartError,
    ContainerState,
    ContainerStats,
    EngineUnavailableError,
    ExecResult,
    ExecTimeoutError,
    ExitInfo,
    ImageNotFoundError,
    ImagePullError,
    ImageResult,
    InvalidSpecError,
    LogLine,
    NetworkInfo,
    NetworkSpec,
    RuntimeEvent,
    StorageQuotaUnsupportedError,
    TaskCgroupUnsupportedError,
    TaskLimits,
)
from stowage.runtime.docker_exec import read_exec_output
from stowage.runtime.docker_isolation import cgroup_host, is_storage_opt_refusal, storage_quota_problem
from stowage.runtime.docker_json import (
    create_body,
    engine_time,
    parse_event,
    parse_state,
    parse_stats,
)
from stowage.runtime.docker_logs import read_log_lines
from stowage.runtime.exec_stream import ExecStream, open_docker_exec
from stowage.runtime.netns_dial import dial_localhost

JSON = dict[str, Any]

# aiodocker reports "cannot connect" as this pseudo HTTP status.
_UNREACHABLE = 900
_LIST_CONCURRENCY = 16
_CGROUP_REMOVE_ATTEMPTS = 8  # ~2.5 s in all


def _raise(exc: DockerError, what: str) -> NoReturn:
    msg = f"{what}: {exc.message}"
    if exc.status == _UNREACHABLE:
        raise EngineUnavailableError(exc.message) from exc
    if exc.status == 404:
        raise ContainerNotFoundError(msg) from exc
    if exc.status in (409, 304):
        raise ContainerConflictError(msg) from exc
    if exc.status == 400:
        raise InvalidSpecError(msg) from exc
    raise ContainerRuntimeError(msg) from exc


@contextmanager
def _engine_errors(what: str) -> Iterator[None]:
    try:
        yield
    except DockerError as exc:
        _raise(exc, what)
    except OSError as exc:  # socket vanished mid-request
        raise EngineUnavailableError(f"{what}: {exc}") from exc


def _labels_filter(labels: Mapping[str, str] | None) -> dict[str, list[str]]:
    return {"label": [f"{k}={v}" for k, v in (labels or {}).items()]}


class DockerRuntime:
    """A ContainerRuntime on one engine. Create it with `await DockerRuntime.connect(url)`."""

    def __init__(self, client: aiodocker.Docker) -> None:
        self._docker = client
        # Docker's CheckDuplicate is best effort: two concurrent creates of one name can make
        # two networks, and a name that matches two is then refused at container start. One
        # create per name at a time, in this process.
        self._network_locks: dict[str, asyncio.Lock] = {}
        self._info: JSON | None = None
        self._storage_refusal: str | None = None  # the engine's own refusal of a size quota

    @classmethod
    async def connect(cls, url: str | None = None) -> DockerRuntime:
        """Connect to the engine at `url` (unix:///var/run/docker.sock, tcp://..., or None for
        DOCKER_HOST / the default socket), negotiate the API version and check it answers."""
        try:
            client = aiodocker.Docker(url=url)
        except ValueError as exc:  # no socket found and no DOCKER_HOST
            raise EngineUnavailableError(str(exc)) from exc
        runtime = cls(client)
        try:
            with _engine_errors("connect to the container engine"):
                await client.version()  # also fixes api_version for every later request
        except ContainerRuntimeError:
            await client.close()
            raise
        return runtime

    @property
    def engine_url(self) -> str:
        return str(self._docker._connection_info)

    async def close(self) -> None:
        await self._docker.close()

    async def engine_version(self) -> JSON:
        with _engine_errors("engine version"):
            return cast(JSON, await self._docker._query_json("version"))

    async def engine_info(self) -> JSON:
        """GET /info, read once: the cgroup and storage facts it holds do not change while the
        daemon runs."""
        if self._info is None:
            with _engine_errors("engine info"):
                self._info = cast(JSON, await self._docker._query_json("info"))
        return self._info

    # -- task isolation (Fargate) ---------------------------------------------------------------

    async def _cgroup_host(self) -> task_cgroups.CgroupHost:
        host = cgroup_host(await self.engine_info())
        if isinstance(host, str):
            raise TaskCgroupUnsupportedError(host)
        return host

    async def task_cgroup_parent(self, key: str) -> str:
        return (await self._cgroup_host()).parent_name(key)

    async def limit_task_cgroup(self, parent: str, limits: TaskLimits, *, member: str) -> TaskLimits:
        host = await self._cgroup_host()
        task_cgroups.check_member(host, parent, member)
        return task_cgroups.write_limits(host, parent, limits)

    async def remove_task_cgroup(self, parent: str) -> None:
        try:
            host = await self._cgroup_host()
        except TaskCgroupUnsupportedError:
            return
        # The engine removes an exited container's cgroup shortly after it reports the exit, so
        # the parent can be busy for a moment after the task's last container stopped.
        delay = 0.05
        for _ in range(_CGROUP_REMOVE_ATTEMPTS):
            try:
                if task_cgroups.remove(host, parent):
                    return
            except OSError as exc:
                raise ContainerRuntimeError(f"remove task cgroup {parent}: {exc}") from exc
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)

    async def storage_quota_support(self) -> str | None:
        return self._storage_refusal or storage_quota_problem(await self.engine_info())

    # -- images ---------------------------------------------------------------------------------

    async def inspect_image(self, ref: str) -> str | None:
        try:
            data = await self._docker._query_json(f"images/{ref}/json")
        except DockerError as exc:
            if exc.status == 404:
                return None
            _raise(exc, f"inspect image {ref}")
        return str(data["Id"])

    async def ensure_image(self, ref: str) -> ImageResult:
        image_id = await self.inspect_image(ref)
        if image_id is not None:
            return ImageResult(ref, image_id, pulled=False)
        repo, tag = _split_ref(ref)
        params: JSON = {"fromImage": repo}
        if tag:
            params["tag"] = tag
        try:
            async with self._docker._query("images/create", "POST", params=params, timeout=None) as resp:
                # Pull failures often arrive as an error line inside a 200 response.
                async for raw in resp.content:
                    if not raw.strip():
                        continue
                    msg = json.loads(raw)
                    if msg.get("error"):
                        raise ImagePullError(
                            ref, str(msg.get("errorDetail", {}).get("message") or msg["error"])
                        )
        except DockerError as exc:
            if exc.status == _UNREACHABLE:
                raise EngineUnavailableError(exc.message) from exc
            raise ImagePullError(ref, exc.message) from exc
        image_id = await self.inspect_image(ref)
        if image_id is None:
            raise ImagePullError(ref, "the engine reported success but the image is not present")
        return ImageResult(ref, image_id, pulled=True)

    async def import_image(
        self,
        ref: str,
        rootfs_tar: bytes,
        *,
        cmd: tuple[str, ...] = (),
        entrypoint: tuple[str, ...] = (),
        labels: Mapping[str, str] | None = None,
    ) -> str:
        repo, tag = _split_ref(ref)
        query: list[tuple[str, str]] = [("fromSrc", "-"), ("repo", repo), ("tag", tag or "latest")]
        if cmd:
            query.append(("changes", f"CMD {json.dumps(list(cmd))}"))
        if entrypoint:
            query.append(("changes", f"ENTRYPOINT {json.dumps(list(entrypoint))}"))
        for key, value in (labels or {}).items():
            query.append(("changes", f"LABEL {json.dumps(key)}={json.dumps(value)}"))
        url = URL("images/create").with_query(query)
        headers = {"Content-Type": "application/x-tar"}
        with _engine_errors(f"import image {ref}"):
            async with self._docker._query(
                url, "POST", data=rootfs_tar, headers=headers, timeout=None
            ) as resp:
                async for raw in resp.content:
                    if raw.strip() and (msg := json.loads(raw)).get("error"):
                        raise ContainerRuntimeError(f"import image {ref}: {msg['error']}")
        image_id = await self.inspect_image(ref)
        if image_id is None:
            raise ContainerRuntimeError(f"import image {ref}: not present after import")
        return image_id

    async def remove_image(self, ref: str, *, force: bool = False) -> None:
        try:
            async with self._docker._query(f"images/{ref}", "DELETE", params={"force": force}):
                pass
        except DockerError as exc:
            if exc.status == 404:
                return
            _raise(exc, f"remove image {ref}")

    # -- lifecycle ------------------------------------------------------------------------------

    async def create(self, spec: ContainerSpec) -> str:
        params = {"name": spec.name} if spec.name else None
        try:
            data = await self._docker._query_json(
                "containers/create", "POST", params=params, data=json.dumps(create_body(spec))
            )
        except DockerError as exc:
            if spec.storage_size_bytes is not None and is_storage_opt_refusal(exc.message):
                self._storage_refusal = exc.message
                raise StorageQuotaUnsupportedError(f"create container: {exc.message}") from exc
            if exc.status == 404 and "image" in exc.message.lower():
                raise ImageNotFoundError(f"create container: {exc.message}") from exc
            if exc.status == 404:  # e.g. the named network or the volumes_from container is missing
                raise InvalidSpecError(f"create container: {exc.message}") from exc
            _raise(exc, "create container")
        return str(data["Id"])

    async def start(self, container_id: str) -> None:
        try:
            async with self._docker._query(f"containers/{container_id}/start", "POST"):
                pass  # 204 started, 304 already running
        except DockerError as exc:
            if exc.status in (404, 409, _UNREACHABLE):
                _raise(exc, f"start container {container_id}")
            raise ContainerStartError(exc.message) from exc

    async def stop(self, container_id: str, timeout_s: float) -> None:
        # The Engine API takes whole seconds; round up so a container is never killed early.
        params = {"t": max(0, math.ceil(timeout_s))}
        with _engine_errors(f"stop container {container_id}"):
            async with self._docker._query(
                f"containers/{container_id}/stop", "POST", params=params, timeout=None
            ):
                pass  # 304: already stopped

    async def kill(self, container_id: str, signal: str = "SIGKILL") -> None:
        try:
            async with self._docker._query(
                f"containers/{container_id}/kill", "POST", params={"signal": signal}
            ):
                pass
        except DockerError as exc:
            if exc.status == 409:  # not running: nothing to kill
                return
            _raise(exc, f"kill container {container_id}")

    async def remove(self, container_id: str, *, force: bool = False) -> None:
        try:
            async with self._docker._query(
                f"containers/{container_id}", "DELETE", params={"force": force, "v": True}, timeout=None
            ):
                pass
        except DockerError as exc:
            if exc.status == 404:
                return
            _raise(exc, f"remove container {container_id}")

    async def inspect(self, container_id: str) -> ContainerState:
        with _engine_errors(f"inspect container {container_id}"):
            data = await self._docker._query_json(f"containers/{container_id}/json")
        return parse_state(data)

    async def wait(self, container_id: str) -> ExitInfo:
        with _engine_errors(f"wait for container {container_id}"):
            data = await self._docker._query_json(
                f"containers/{container_id}/wait", "POST", params={"condition": "not-running"}, timeout=None
            )
        # The wait answer has the exit code but not the OOM flag: that needs the state.
        state = await self.inspect(container_id)
        error = ((data.get("Error") or {}).get("Message") or "") if isinstance(data, dict) else ""
        code = int(data.get("StatusCode", state.exit_code or 0))
        return ExitInfo(exit_code=code, oom_killed=state.oom_killed, error=error or state.error)

    async def open_exec(
        self, container_id: str, command: Sequence[str], *, tty: bool, stdin: bool
    ) -> ExecStream:
        return await open_docker_exec(self._docker, container_id, command, tty=tty, stdin=stdin)

    async def dial(self, container_id: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        state = await self.inspect(container_id)
        if not state.running or not state.pid:
            raise ContainerConflictError(f"container {container_id} is not running")
        return await dial_localhost(
            state.pid, port, name=container_id, fallback_hosts=list(state.ip_addresses.values())
        )

    async def exec(
        self, container_id: str, command: Sequence[str], *, timeout_s: float | None = None
    ) -> ExecResult:
        # Three round trips: create the exec, start it attached (its output streams until the
        # command ends), read its exit code.
        body = {"AttachStdout": True, "AttachStderr": True, "Tty": False, "Cmd": list(command)}
        with _engine_errors(f"exec in container {container_id}"):
            created = await self._docker._query_json(
                f"containers/{container_id}/exec", "POST", data=json.dumps(body)
            )
        exec_id = str(created["Id"])

        async def run() -> ExecResult:
            with _engine_errors(f"exec in container {container_id}"):
                async with self._docker._query(
                    f"exec/{exec_id}/start",
                    "POST",
                    data=json.dumps({"Detach": False, "Tty": False}),
                    headers={"Content-Type": "application/json"},
                    timeout=None,
                ) as resp:
                    output = await read_exec_output(resp.content.readexactly, EXEC_OUTPUT_LIMIT)
                info = await self._docker._query_json(f"exec/{exec_id}/json")
            code = info.get("ExitCode")
            return ExecResult(exit_code=int(code) if code is not None else 126, output=output)

        if timeout_s is None:
            return await run()
        try:
            return await asyncio.wait_for(run(), timeout_s)
        except TimeoutError as exc:
            raise ExecTimeoutError(
                f"exec in container {container_id}: command timed out after {timeout_s:g}s"
            ) from exc

    async def stats(self, container_id: str) -> ContainerStats:
        path = f"containers/{container_id}/stats"
        try:
            # one-shot: no second sample a second later (we report cumulative counters anyway)
            data = await self._docker._query_json(path, params={"stream": False, "one-shot": True})
        except DockerError as exc:
            if exc.status != 400:
                _raise(exc, f"stats of container {container_id}")
            with _engine_errors(f"stats of container {container_id}"):
                data = await self._docker._query_json(path, params={"stream": False})
        return parse_stats(data)

    async def logs(
        self, container_id: str, *, since: datetime | None = None, follow: bool = False
    ) -> AsyncIterator[LogLine]:
        with _engine_errors(f"logs of container {container_id}"):
            info = await self._docker._query_json(f"containers/{container_id}/json")
        tty = bool((info.get("Config") or {}).get("Tty"))
        params: JSON = {"stdout": True, "stderr": True, "timestamps": True, "follow": follow}
        if since is not None:
            params["since"] = engine_time(since)
        with _engine_errors(f"logs of container {container_id}"):
            async with self._docker._query(
                f"containers/{container_id}/logs", params=params, timeout=None
            ) as resp:
                content = resp.content

                async def read_chunk() -> bytes:
                    return await content.readany()

                async for line in read_log_lines(content.readexactly, read_chunk, tty=tty):
                    yield line

    async def list(self, labels: Mapping[str, str]) -> list[ContainerState]:
        with _engine_errors("list containers"):
            summaries = await self._docker._query_json(
                "containers/json", params={"all": True, "filters": _labels_filter(labels)}
            )
        gate = asyncio.Semaphore(_LIST_CONCURRENCY)

        async def one(cid: str) -> ContainerState | None:
            async with gate:
                try:
                    return await self.inspect(cid)
                except ContainerNotFoundError:  # removed since the list
                    return None

        states = await asyncio.gather(*(one(s["Id"]) for s in summaries))
        return [s for s in states if s is not None]

    async def events(
        self, labels: Mapping[str, str] | None = None, *, since: datetime | None = None
    ) -> AsyncIterator[RuntimeEvent]:
        filters = {"type": ["container"], **(_labels_filter(labels) if labels else {})}
        params: JSON = {"filters": filters}
        if since is not None:
            params["since"] = engine_time(since)
        with _engine_errors("engine events"):
            async with self._docker._query("events", params=params, timeout=None) as resp:
                while raw := await resp.content.readline():
                    if raw.strip() and (event := parse_event(raw)) is not None:
                        yield event

    # -- networks -------------------------------------------------------------------------------

    async def _network(self, name: str) -> NetworkInfo | None:
        try:
            data = await self._docker._query_json(f"networks/{name}")
        except DockerError as exc:
            if exc.status == 404:
                return None
            _raise(exc, f"inspect network {name}")
        config = ((data.get("IPAM") or {}).get("Config") or [{}])[0]
        return NetworkInfo(
            id=data["Id"],
            name=data["Name"],
            subnet=config.get("Subnet", ""),
            gateway=config.get("Gateway", ""),
        )

    async def ensure_network(self, spec: NetworkSpec) -> NetworkInfo:
        found = await self._network(spec.name)
        if found is not None:
            return found
        async with self._network_locks.setdefault(spec.name, asyncio.Lock()):
            return await self._create_network(spec)

    async def _create_network(self, spec: NetworkSpec) -> NetworkInfo:
        found = await self._network(spec.name)  # another caller may have made it meanwhile
        if found is not None:
            return found
        ipam: JSON = {"Subnet": spec.subnet}
        if spec.gateway:
            ipam["Gateway"] = spec.gateway
        body = {
            "Name": spec.name,
            "Driver": "bridge",
            "CheckDuplicate": True,
            "Internal": spec.internal,
            "Labels": dict(spec.labels),
            "IPAM": {"Driver": "default", "Config": [ipam]},
        }
        try:
            await self._docker._query_json("networks/create", "POST", data=json.dumps(body))
        except DockerError as exc:
            if exc.status != 409:  # 409: created concurrently, fine
                _raise(exc, f"create network {spec.name}")
        found = await self._network(spec.name)
        if found is None:
            raise ContainerRuntimeError(f"create network {spec.name}: not present after create")
        return found

    async def remove_network(self, name: str) -> None:
        try:
            async with self._docker._query(f"networks/{name}", "DELETE"):
                pass
        except DockerError as exc:
            if exc.status == 404:
                return
            _raise(exc, f"remove network {name}")

    async def remove_volume(self, name: str) -> None:
        try:
            async with self._docker._query(f"volumes/{name}", "DELETE"):
                pass
        except DockerError as exc:
            if exc.status == 404:
                return
            _raise(exc, f"remove volume {name}")


def _split_ref(ref: str) -> tuple[str, str]:
    """ "host:5000/repo:tag" -> ("host:5000/repo", "tag"); a digest stays in the repo part."""
    if "@" in ref:
        return ref, ""
    head, _, last = ref.rpartition("/")
    if ":" in last:
        name, _, tag = last.partition(":")
        return (f"{head}/{name}" if head else name), tag
    return ref, "latest"


__all__ = ["DockerRuntime"]
