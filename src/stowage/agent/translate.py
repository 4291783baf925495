"""From an ECS task (``TaskSpec``: task definition + overrides) to runtime ``ContainerSpec``s.

Pure except for reading environment files. Every task-definition feature the agent supports is
mapped here, in ECS's terms (units: MiB and cpu units in, bytes and shares out):

- ``command``/``entryPoint``/``environment``/``environmentFiles``/``workingDirectory``/``user``,
  with ``containerOverrides`` applied as RunTask gives them (override values replace, override
  environment entries win by name; ``environment`` wins over environment files, and among files
  the first to define a variable wins, as ECS documents).
- ``cpu`` → CPU shares (at least 2, the kernel's minimum); task-level ``cpu`` → a hard cap
  (NanoCpus) on each container; ``memory`` → hard limit (OOM kill past it);
  ``memoryReservation`` → soft limit; task-level ``memory`` → the hard limit of containers
  that set none.
- ``healthCheck``, ``stopTimeout``, ``ulimits``, ``readonlyRootFilesystem``, ``privileged``
  (refused unless the agent allows it), ``linuxParameters`` (initProcessEnabled, capabilities,
  sharedMemorySize, tmpfs, maxSwap), ``dockerLabels``, ``dockerSecurityOptions``,
  ``systemControls``, ``hostname``, ``extraHosts``, ``dnsServers``, ``dnsSearchDomains``,
  ``pseudoTerminal``, ``interactive``, ``disableNetworking``.
- ``volumes`` + ``mountPoints``: a ``host.sourcePath`` is a bind mount; a volume with neither
  host path nor Docker configuration is a task-scoped scratch volume (a Docker volume named after
  the task, removed with it) that every container mounting it shares;
  ``dockerVolumeConfiguration`` with ``scope: task`` likewise, ``scope: shared`` is the named
  volume itself. ``volumesFrom`` is resolved to container ids when the container is created.
  A volume whose files the spec carries (``TaskSpec.volume_files``: a pod's configMap, secret,
  downwardAPI or projected volume) is a per-task host directory the agent writes first
  (`agent.projected_files`) and binds. A mount point's ``subPath`` (stowage's, for pods) binds
  that part of a host directory instead of all of it.
- ``portMappings``: fixed and dynamic (``hostPort`` 0/absent) host ports in bridge mode.
- ``logConfiguration``: ``awslogs`` keeps the engine on json-file (the agent ships the lines);
  other drivers go to the engine as given.
- ``restartPolicy`` and a pod container's private ``_k8s`` member (its pod's restart policy and
  probes) become the plan's `agent.restarts` policy and `agent.probes` specs.
- Fargate tasks (`agent.fargate`): refused outright when they break a Fargate rule; otherwise
  every container gets exactly Fargate's capabilities and the task's ephemeral storage as its
  writable-layer quota (the task-wide cgroup is `agent.task_isolation`'s, at run time).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stowage.agent import fargate, projected_files
from stowage.agent import labels as lbl
from stowage.agent.config import AgentConfig
from stowage.agent.probes import ProbeSpec, probes_of
from stowage.agent.restarts import RestartPolicy, restart_policy_of
from stowage.model.agent_tasks import TaskSpec
from stowage.model.k8s.container_logs import instance_stream
from stowage.runtime.base import ContainerSpec, HealthCheck, LogConfig, Mount, PortBinding, Ulimit

_MIB = 1024 * 1024
_MIN_CPU_SHARES = 2

Doc = dict[str, Any]


class TaskSetupError(Exception):
    """The task cannot start on this host; ``reason`` is the ECS-style container reason."""

    def __init__(self, reason: str, container: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.container = container


@dataclass(frozen=True, slots=True)
class Dependency:
    container: str
    condition: str  # START | COMPLETE | SUCCESS | HEALTHY


@dataclass(frozen=True, slots=True)
class AwslogsOptions:
    group: str
    stream: str
    create_group: bool
    region: str


@dataclass(frozen=True, slots=True)
class ContainerPlan:
    name: str
    spec: ContainerSpec
    """Complete except ``network`` for awsvpc (the pause container's) and ``volumes_from``."""
    essential: bool
    depends_on: tuple[Dependency, ...]
    volumes_from: tuple[tuple[str, bool], ...]
    """(source container name, read only)."""
    stop_timeout_s: float
    start_timeout_s: float
    awslogs: AwslogsOptions | None
    host_port_mappings: tuple[tuple[int, str], ...]
    """(port, protocol) a host-mode container listens on: reported as networkBindings."""
    restart: RestartPolicy | None = None
    """When an exit is not final (`agent.restarts`)."""
    probes: tuple[ProbeSpec, ...] = ()
    """A pod container's probes (`agent.probes`)."""
    k8s: str = ""
    """A pod's container: "app" or "init" (Kubernetes semantics for its lifecycle); else ""."""

    def log_stream(self, container_id: str, attempt: int) -> str:
        """The awslogs stream of one attempt: ECS's name (the container id without a prefix),
        which every restart of an ECS container writes on to, while each instance of a pod
        container writes its own (`model.k8s.container_logs`: ``kubectl logs --previous``)."""
        named = self.awslogs.stream if self.awslogs is not None else ""
        if not named:
            return container_id
        return instance_stream(named, attempt) if self.k8s else named


def task_id(task_arn: str) -> str:
    return task_arn.rsplit("/", 1)[-1]


def docker_name(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "_.-" else "-" for ch in text)


def container_docker_name(spec: TaskSpec, container: str) -> str:
    return docker_name(f"ecs-{spec.family}-{spec.revision}-{container}-{task_id(spec.task_arn)}")


def pause_docker_name(spec: TaskSpec) -> str:
    return docker_name(f"ecs-{spec.family}-{spec.revision}-internalecspause-{task_id(spec.task_arn)}")


def _mib(value: object) -> int | None:
    if value is None or value == "":
        return None
    number = int(str(value).strip())
    return number * _MIB if number > 0 else None


def _int(value: object) -> int | None:
    if value is None or value == "":
        return None
    return int(str(value).strip())


def parse_env_file(text: str) -> dict[str, str]:
    """ECS's env file format: ``VAR=VALUE`` per line; ``#`` comments and blank lines skipped."""
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.partition("=")
        out.setdefault(name.strip(), value)
    return out


def env_file_path(value: str, env_files_dir: Path | None) -> Path:
    if value.startswith("file://"):
        return Path(value.removeprefix("file://"))
    if value.startswith("arn:aws:s3:::"):
        if env_files_dir is None:
            raise TaskSetupError(
                f"ResourceInitializationError: failed to download env files: {value}: this agent has "
                "no --env-files-dir for S3 objects"
            )
        return env_files_dir / value.removeprefix("arn:aws:s3:::")
    return Path(value)


def _read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _environment(
    definition: Doc, override: Doc, config: AgentConfig, read: Callable[[Path], str]
) -> dict[str, str]:
    env: dict[str, str] = {}
    files = list(definition.get("environmentFiles") or []) + list(override.get("environmentFiles") or [])
    for entry in files:
        value = str(entry.get("value", ""))
        path = env_file_path(value, config.env_files_dir)
        try:
            text = read(path)
        except OSError as exc:
            raise TaskSetupError(
                f"ResourceInitializationError: failed to download env files: {value}: {exc.strerror or exc}",
                str(definition.get("name", "")),
            ) from exc
        for name, val in parse_env_file(text).items():
            env.setdefault(name, val)
    for item in definition.get("environment") or []:
        env[str(item["name"])] = str(item.get("value", ""))
    for item in override.get("environment") or []:
        env[str(item["name"])] = str(item.get("value", ""))
    return env


@dataclass(frozen=True, slots=True)
class _Volume:
    mount_type: str  # bind | volume
    source: str
    task_scoped: bool


def task_volumes(spec: TaskSpec, state_dir: Path | None = None) -> dict[str, _Volume]:
    """The task's volumes by name; a file volume's directory is under ``state_dir`` (None:
    only the names matter)."""
    out: dict[str, _Volume] = {}
    tid = task_id(spec.task_arn)
    for volume in spec.task_definition.get("volumes") or []:
        name = str(volume["name"])
        host = volume.get("host") or {}
        docker_cfg = volume.get("dockerVolumeConfiguration")
        if name in spec.volume_files:
            source = projected_files.volume_dir(state_dir, spec.task_arn, name) if state_dir else ""
            out[name] = _Volume("bind", str(source), False)
        elif host.get("sourcePath"):
            out[name] = _Volume("bind", str(host["sourcePath"]), False)
        elif docker_cfg is not None and docker_cfg.get("scope") == "shared":
            out[name] = _Volume("volume", name, False)
        else:
            out[name] = _Volume("volume", docker_name(f"ecs-{tid}-{name}"), True)
    return out


def task_volume_names(spec: TaskSpec) -> tuple[str, ...]:
    return tuple(v.source for v in task_volumes(spec).values() if v.task_scoped)


def _mounts(definition: Doc, volumes: Mapping[str, _Volume], labels: Mapping[str, str]) -> list[Mount]:
    mounts: list[Mount] = []
    for mp in definition.get("mountPoints") or []:
        source = str(mp.get("sourceVolume", ""))
        volume = volumes.get(source)
        if volume is None:
            raise TaskSetupError(
                f"CannotCreateContainerError: mount point refers to unknown volume {source!r}",
                str(definition.get("name", "")),
            )
        source_path = volume.source
        if mp.get("subPath"):
            if volume.mount_type != "bind":
                raise TaskSetupError(
                    f"CannotCreateContainerError: subPath on volume {source!r}: only host directories "
                    "can be mounted in part",
                    str(definition.get("name", "")),
                )
            try:
                source_path = projected_files.sub_path(volume.source, str(mp["subPath"]))
            except projected_files.FilesError as exc:
                raise TaskSetupError(
                    f"CannotCreateContainerError: subPath of volume {source!r}: {exc}",
                    str(definition.get("name", "")),
                ) from exc
        mounts.append(
            Mount(
                type="bind" if volume.mount_type == "bind" else "volume",
                target=str(mp["containerPath"]),
                source=source_path,
                read_only=bool(mp.get("readOnly", False)),
                volume_labels=labels if volume.mount_type == "volume" else {},
            )
        )
    linux = definition.get("linuxParameters") or {}
    for tmpfs in linux.get("tmpfs") or []:
        mounts.append(Mount(type="tmpfs", target=str(tmpfs["containerPath"]), size_bytes=_mib(tmpfs["size"])))
    return mounts


def _healthcheck(raw: Doc | None) -> HealthCheck | None:
    if not raw or not raw.get("command"):
        return None
    return HealthCheck(
        command=tuple(str(c) for c in raw["command"]),
        interval_s=float(raw.get("interval", 30)),
        timeout_s=float(raw.get("timeout", 5)),
        retries=int(raw.get("retries", 3)),
        start_period_s=float(raw.get("startPeriod", 0)),
    )


def _ports(definition: Doc, mode: str) -> tuple[tuple[PortBinding, ...], tuple[tuple[int, str], ...]]:
    mappings = definition.get("portMappings") or []
    if mode == "bridge":
        bindings = tuple(
            PortBinding(
                container_port=int(pm["containerPort"]),
                host_port=int(pm.get("hostPort") or 0) or None,
                protocol="udp" if pm.get("protocol") == "udp" else "tcp",
            )
            for pm in mappings
            if pm.get("containerPort") is not None
        )
        return bindings, ()
    if mode == "host":
        return (), tuple(
            (int(pm["containerPort"]), "udp" if pm.get("protocol") == "udp" else "tcp")
            for pm in mappings
            if pm.get("containerPort") is not None
        )
    return (), ()


def _awslogs(definition: Doc, spec: TaskSpec, config: AgentConfig) -> AwslogsOptions | None:
    log = definition.get("logConfiguration") or {}
    if log.get("logDriver") != "awslogs":
        return None
    options = {str(k): str(v) for k, v in (log.get("options") or {}).items()}
    group = options.get("awslogs-group", "")
    if not group:
        raise TaskSetupError(
            "CannotStartContainerError: failed to initialize logging driver: must specify a value "
            "for log opt 'awslogs-group'",
            str(definition["name"]),
        )
    prefix = options.get("awslogs-stream-prefix", "")
    name = str(definition["name"])
    # Without a prefix ECS (the awslogs driver) names the stream after the container id, which
    # is only known at create time: the runner fills it in (stream "").
    stream = f"{prefix}/{name}/{task_id(spec.task_arn)}" if prefix else ""
    return AwslogsOptions(
        group=group,
        stream=stream,
        create_group=options.get("awslogs-create-group", "false").lower() == "true",
        region=options.get("awslogs-region", config.region),
    )


def _log_config(definition: Doc) -> LogConfig:
    log = definition.get("logConfiguration") or {}
    driver = str(log.get("logDriver") or "json-file")
    if driver == "awslogs":
        return LogConfig()
    return LogConfig(driver=driver, options={str(k): str(v) for k, v in (log.get("options") or {}).items()})


def plan_container(
    spec: TaskSpec,
    definition: Doc,
    *,
    config: AgentConfig,
    instance_arn: str,
    volumes: Mapping[str, _Volume],
    read: Callable[[Path], str] = _read_text,
    fargate_size: fargate.TaskSize | None = None,
) -> ContainerPlan:
    name = str(definition["name"])
    override = spec.container_override(name)
    td = spec.task_definition
    mode = spec.network.mode or str(td.get("networkMode") or "bridge")
    if definition.get("disableNetworking"):
        mode = "none"
    if definition.get("privileged") and not config.allow_privileged:
        raise TaskSetupError(
            "CannotCreateContainerError: privileged containers are not allowed on this container "
            "instance (start the agent with --allow-privileged)",
            name,
        )
    labels = lbl.container_labels(
        cluster_arn=spec.cluster_arn,
        instance_arn=instance_arn,
        task_arn=spec.task_arn,
        family=spec.family,
        revision=spec.revision,
        container_name=name,
        task_volumes=task_volume_names(spec),
        user_labels={str(k): str(v) for k, v in (definition.get("dockerLabels") or {}).items()},
    )
    volume_labels = {lbl.MANAGED: "1", lbl.INSTANCE: instance_arn, lbl.TASK_ARN: spec.task_arn}
    linux = definition.get("linuxParameters") or {}
    overrides_task = spec.overrides or {}
    task_cpu = _int(overrides_task.get("cpu") or td.get("cpu"))
    task_memory = _mib(overrides_task.get("memory") or td.get("memory"))
    cpu = _int(override.get("cpu", definition.get("cpu")))
    memory = _mib(override.get("memory", definition.get("memory")))
    reservation = _mib(override.get("memoryReservation", definition.get("memoryReservation")))
    if memory is None and task_memory is not None:
        memory = task_memory
    swap = None
    if memory is not None and linux.get("maxSwap") is not None:
        swap = memory + int(linux["maxSwap"]) * _MIB
    command = override.get("command", definition.get("command"))
    entry = definition.get("entryPoint")
    port_bindings, host_ports = _ports(definition, mode)
    capabilities = linux.get("capabilities") or {}
    container_spec = ContainerSpec(
        image=str(definition["image"]),
        name=container_docker_name(spec, name),
        command=tuple(str(c) for c in command) if command else None,
        entrypoint=tuple(str(c) for c in entry) if entry else None,
        env=_environment(definition, override, config, read),
        working_dir=str(definition.get("workingDirectory") or ""),
        user=str(definition.get("user") or ""),
        hostname=str(definition.get("hostname") or "") if mode == "bridge" else "",
        labels=labels,
        cpu_shares=max(_MIN_CPU_SHARES, cpu) if cpu else None,
        nano_cpus=_k8s_nano_cpus(definition) or (task_cpu * 1_000_000_000 // 1024 if task_cpu else None),
        memory_bytes=memory,
        memory_reservation_bytes=reservation,
        memory_swap_bytes=swap,
        shm_size_bytes=_mib(linux.get("sharedMemorySize")),
        ulimits=tuple(
            Ulimit(str(u["name"]), int(u["softLimit"]), int(u["hardLimit"]))
            for u in definition.get("ulimits") or []
        ),
        readonly_rootfs=bool(definition.get("readonlyRootFilesystem", False)),
        privileged=bool(definition.get("privileged", False)),
        init=bool(linux.get("initProcessEnabled", False)),
        cap_add=tuple(str(c) for c in capabilities.get("add") or []),
        cap_drop=tuple(str(c) for c in capabilities.get("drop") or []),
        security_opt=tuple(str(s) for s in definition.get("dockerSecurityOptions") or []),
        sysctls={str(s["namespace"]): str(s["value"]) for s in definition.get("systemControls") or []},
        tty=bool(definition.get("pseudoTerminal", False)),
        interactive=bool(definition.get("interactive", False)),
        mounts=tuple(_mounts(definition, volumes, volume_labels)),
        network=mode if mode in ("bridge", "host", "none") else "none",
        port_bindings=port_bindings,
        extra_hosts={str(h["hostname"]): str(h["ipAddress"]) for h in definition.get("extraHosts") or []}
        if mode != "awsvpc"
        else {},
        dns_servers=tuple(str(s) for s in definition.get("dnsServers") or []) if mode != "awsvpc" else (),
        dns_search=tuple(str(s) for s in definition.get("dnsSearchDomains") or []),
        healthcheck=_healthcheck(definition.get("healthCheck")),
        stop_timeout_s=_int(definition.get("stopTimeout")),
        log=_log_config(definition),
    )
    if fargate_size is not None:
        container_spec = fargate.harden_container(container_spec, definition, fargate_size)
    stop_timeout = definition.get("stopTimeout")
    start_timeout = definition.get("startTimeout")
    return ContainerPlan(
        name=name,
        spec=container_spec,
        essential=bool(definition.get("essential", True)),
        depends_on=tuple(
            Dependency(str(d["containerName"]), str(d["condition"]).upper())
            for d in definition.get("dependsOn") or []
        ),
        volumes_from=tuple(
            (str(v["sourceContainer"]), bool(v.get("readOnly", False)))
            for v in definition.get("volumesFrom") or []
        ),
        stop_timeout_s=float(stop_timeout) if stop_timeout is not None else config.stop_timeout_s,
        start_timeout_s=float(start_timeout)
        if start_timeout is not None
        else config.dependency_start_timeout_s,
        awslogs=_awslogs(definition, spec, config),
        host_port_mappings=host_ports,
        restart=restart_policy_of(definition),
        probes=probes_of(definition),
        k8s=k8s_role(definition),
    )


def _k8s_nano_cpus(definition: Mapping[str, Any]) -> int | None:
    """A pod container's ``resources.limits.cpu`` as a hard cap (``_k8s.nanoCpus``); at least
    Docker's minimum of 0.01 CPU."""
    k8s = definition.get("_k8s")
    value = k8s.get("nanoCpus") if isinstance(k8s, Mapping) else None
    return max(10_000_000, int(value)) if isinstance(value, int) and value > 0 else None


def k8s_role(definition: Mapping[str, Any]) -> str:
    """The role of a pod's container, "app" or "init" (its definition carries ``_k8s``);
    "" for any other container."""
    k8s = definition.get("_k8s")
    if not isinstance(k8s, Mapping):
        return ""
    return "init" if k8s.get("init") else "app"


def plan_task(
    spec: TaskSpec,
    *,
    config: AgentConfig,
    instance_arn: str,
    read: Callable[[Path], str] = _read_text,
) -> list[ContainerPlan]:
    """One plan per container definition, in definition order. Raises TaskSetupError."""
    size = fargate_task_size(spec)
    volumes = task_volumes(spec, config.state_dir)
    try:
        projected_files.write_task_files(config.state_dir, spec.task_arn, spec.volume_files)
    except projected_files.FilesError as exc:
        reason = f"CannotCreateContainerError: failed to write the files of a volume: {exc}"
        raise TaskSetupError(reason) from exc
    for volume in volumes.values():
        if volume.mount_type == "bind" and not os.path.exists(volume.source):
            # Docker's -v creates a missing host directory; its Mounts API does not. ECS (which
            # uses -v) therefore creates it: so do we.
            try:
                os.makedirs(volume.source, exist_ok=True)
            except OSError as exc:
                raise TaskSetupError(
                    f"CannotCreateContainerError: host path {volume.source}: {exc.strerror or exc}"
                ) from exc
    return [
        plan_container(
            spec, d, config=config, instance_arn=instance_arn, volumes=volumes, read=read, fargate_size=size
        )
        for d in spec.container_definitions()
    ]


def fargate_task_size(spec: TaskSpec) -> fargate.TaskSize | None:
    """The size of a Fargate task (None for other tasks). Raises TaskSetupError, before anything
    touches the host, for a task that breaks a Fargate rule."""
    if not fargate.is_fargate(spec):
        return None
    checked = fargate.check(spec)
    if isinstance(checked, fargate.Refusal):
        raise TaskSetupError(f"CannotCreateContainerError: {checked.reason}", checked.container)
    return checked
