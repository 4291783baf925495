"""`TaskRunner`: runs one task on this host, from its assignment to its STOPPED report.

It is level-triggered like a controller: each step re-inspects the task's containers, then
takes what steps the state allows (pull images, create the awsvpc namespace, create and start
every container whose dependencies are met, stop the task when it should stop), then reports
the task's state if it changed. Steps run when something happens (an engine event for one of
its containers, a new desired status, a finished stop) and every ``resync_interval`` anyway,
so a missed event only delays, never loses, a transition. Engine errors (the daemon
restarting) are retried with backoff; the containers are the truth.

The task stops when its desired status becomes STOPPED (StopTask: SIGTERM, SIGKILL after each
container's ``stopTimeout``), when an essential container exits (``EssentialContainerExited``),
or when it cannot start (``TaskFailedToStart``: an image that cannot be pulled, a container the
engine refuses). Containers stop in reverse dependency order. A runner built with containers
found on the host (after an agent restart) adopts them as they are: running ones keep running,
exited ones are reported with their exit codes, missing ones are created.

A container with a restart policy (ECS's ``restartPolicy``, a pod's ``restartPolicy``:
`agent.restarts`) that exits may start again instead: it is RESTARTING (RUNNING to ECS) until
its next attempt, a new container of the same task in the same namespace, named and labelled
with the attempt number; the previous attempt's container is kept until the one after. A pod's
containers run their probes (`agent.probes`); a failed liveness or startup probe kills the
container, and its restart policy decides what follows. A pod's task ends when all of its
containers have ended for good, not at the first essential exit.

A Fargate task runs in a sandbox (`agent.task_isolation`): its pause container opens the task's
own cgroup, which is limited to the task size before any container of the task starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, TypeVar

from stowage.agent import labels as lbl
from stowage.agent.awslogs import LogRouter
from stowage.agent.clock import Backoff, Clock, wait_event
from stowage.agent.config import AgentConfig
from stowage.agent.eni import awsvpc_network, eni_attachments, network_interfaces
from stowage.agent.probe_checks import run_check
from stowage.agent.probes import ContainerProber
from stowage.agent.reporter import StateReporter
from stowage.agent.task_isolation import FargateHost, TaskIsolation
from stowage.agent.task_state import (
    ESSENTIAL_EXITED,
    OOM_REASON,
    PENDING,
    RESTARTING,
    RUNNING,
    STOPPED,
    ContainerRun,
    Verdict,
    attempt_of,
    dependency_reason,
    dependency_verdict,
    exit_of,
    stop_levels,
    task_health,
)
from stowage.agent.translate import (
    TaskSetupError,
    fargate_task_size,
    pause_docker_name,
    plan_task,
    task_id,
    task_volume_names,
)
from stowage.model.agent_tasks import TaskSpec
from stowage.runtime.awsvpc import create_task_namespace
from stowage.runtime.base import (
    ContainerNotFoundError,
    ContainerRuntime,
    ContainerRuntimeError,
    ContainerSpec,
    ContainerState,
    ContainerStatus,
    EngineUnavailableError,
    ImagePullError,
    StorageQuotaUnsupportedError,
)

JSON = dict[str, Any]
log = logging.getLogger(__name__)
T = TypeVar("T")

TASK_FAILED_TO_START = "TaskFailedToStart"
ESSENTIAL_CONTAINER_EXITED = "EssentialContainerExited"
_LOG_DRAIN_S = 5.0


@dataclass
class RunnerContext:
    runtime: ContainerRuntime
    clock: Clock
    config: AgentConfig
    reporter: StateReporter
    logs: LogRouter
    instance_arn: str
    ensure_pause_image: Callable[[], Awaitable[None]]
    fargate: FargateHost | None = None
    """The agent's view of its engine's isolation; None: Fargate tasks are not isolated here
    (only for runners built outside an Agent)."""


class TaskRunner:
    def __init__(
        self,
        ctx: RunnerContext,
        spec: TaskSpec,
        *,
        desired: str,
        recovered: Sequence[ContainerState] = (),
    ) -> None:
        self.ctx = ctx
        self.spec = spec
        self.arn = spec.task_arn
        self.desired = desired
        self.runs: dict[str, ContainerRun] = {}
        self.finished = False
        """The STOPPED report is queued; nothing more will happen to this task."""
        self._wake = asyncio.Event()
        self._stop_cause: tuple[str, str] | None = None
        self._stop_task: asyncio.Task[None] | None = None
        self._setup_error: TaskSetupError | None = None
        self._pulled = False
        self._pause_id: str | None = None
        self._stale_pause: list[str] = []
        self._ipv4: str | None = None
        self._mac: str | None = None
        self._isolation: TaskIsolation | None = None
        self._reached_running = False
        self._pull_started_at: float | None = None
        self._pull_stopped_at: float | None = None
        self._started_at: float | None = None
        self._execution_stopped_at: float | None = None
        self._last_report: JSON | None = None
        self._stale_containers: list[str] = []
        self._killers: set[asyncio.Task[None]] = set()
        self._prepare(recovered)

    # -- control --------------------------------------------------------------------------------

    def set_desired(self, desired: str) -> None:
        if desired != self.desired:
            self.desired = desired
            self.poke()

    def poke(self) -> None:
        self._wake.set()

    @property
    def awsvpc(self) -> bool:
        return self.spec.network.mode == "awsvpc"

    def running_containers(self) -> list[tuple[str, str]]:
        """(container name, runtime id) of the containers running now."""
        return [
            (r.name, r.container_id) for r in self.runs.values() if r.status == RUNNING and r.container_id
        ]

    def _stopping(self) -> bool:
        return self.desired == STOPPED or self._stop_cause is not None

    def _fail(self, code: str, reason: str) -> None:
        if self._stop_cause is None:
            self._stop_cause = (code, reason)

    # -- setup and adoption ----------------------------------------------------------------------

    def _prepare(self, recovered: Sequence[ContainerState]) -> None:
        try:
            plans = plan_task(self.spec, config=self.ctx.config, instance_arn=self.ctx.instance_arn)
            size = fargate_task_size(self.spec)
        except TaskSetupError as exc:
            self._setup_error = exc
            return
        if size is not None and self.ctx.fargate is not None:
            self._isolation = TaskIsolation(self.spec, size, self.ctx.fargate)
        self.runs = {p.name: ContainerRun(p.name, p) for p in plans}
        started: list[float] = []
        attempts: dict[str, list[ContainerState]] = {}
        for state in recovered:
            if self._isolation is not None:
                self._isolation.adopt(state.labels)
            if state.labels.get(lbl.ROLE) == lbl.ROLE_PAUSE:
                if state.running and state.ip_addresses:
                    self._pause_id = state.id
                    self._ipv4 = next(iter(state.ip_addresses.values()))
                    self._mac = next(iter(state.mac_addresses.values()), None)
                else:
                    self._stale_pause.append(state.id)
                continue
            attempts.setdefault(state.labels.get(lbl.CONTAINER_NAME, ""), []).append(state)
        for name, states in attempts.items():
            run = self.runs.get(name)
            if run is None:
                continue
            # The newest attempt is the container; the one before it tells how the previous run
            # ended; any older one is left over from a crash between two steps.
            states.sort(key=attempt_of)
            state = states[-1]
            if len(states) > 1:
                run.previous_id = states[-2].id
                run.last_exit = exit_of(states[-2])
                self._stale_containers.extend(s.id for s in states[:-2])
            if run.restarts is not None:
                run.restarts.count = attempt_of(state)
            run.container_id = state.id
            self._apply(run, state)
            if state.started_at is not None:
                run.started = True
                started.append(state.started_at.timestamp())
            if run.started and run.plan.awslogs is not None:
                self.ctx.logs.follow(
                    state.id, run.plan.awslogs, run.plan.log_stream(state.id, attempt_of(state))
                )
        if started:
            self._started_at = min(started)
        self._pulled = all(r.container_id is not None for r in self.runs.values())
        if self.runs and all(r.status != PENDING for r in self.runs.values()) and started:
            self._reached_running = True

    # -- the loop --------------------------------------------------------------------------------

    async def run(self) -> None:
        if self._setup_error is not None:
            self._report_setup_failure(self._setup_error)
            return
        backoff = Backoff(base_s=0.5, max_s=self.ctx.config.max_backoff_s)
        try:
            while not self.finished:
                self._wake.clear()
                try:
                    await self._step()
                    backoff.reset()
                except ContainerRuntimeError as exc:
                    # The engine is away or misbehaving: the containers are the truth, try again.
                    log.warning("task %s: engine error, retrying: %s", task_id(self.arn), exc)
                    await self.ctx.clock.sleep(backoff.next_delay())
                    continue
                if not self.finished:
                    await wait_event(self.ctx.clock, self._wake, self._wait_s())
        finally:
            self._stop_probes()
            for killer in list(self._killers):
                killer.cancel()

    def _wait_s(self) -> float:
        """Until the next step: the resync interval, or sooner when a restart is due."""
        wait = self.ctx.config.resync_interval_s
        due = [
            r.restart_at for r in self.runs.values() if r.status == RESTARTING and r.restart_at is not None
        ]
        if due:
            wait = max(0.0, min(wait, min(due) - self.ctx.clock.now()))
        return wait

    async def _step(self) -> None:
        await self._observe()
        await self._restart_step()
        if not self._stopping():
            if not self._pulled:
                await self._pull()
            if not self._stopping() and self.awsvpc and self._pause_id is None:
                await self._ensure_namespace()
            if not self._stopping() and self._isolation is not None and self._pause_id is not None:
                await self._isolation.enforce(self.ctx.runtime, self._pause_id)
                await self._isolation.check_storage()
            if not self._stopping():
                await self._advance()
            self._kill_step()
            self._check_essential()
        if self._stopping():
            if all(r.status == STOPPED for r in self.runs.values()):
                await self._finish()
                return
            self._begin_stop()
        self._ensure_probes()
        self._report()

    async def _observe(self) -> None:
        targets = [r for r in self.runs.values() if r.container_id and r.status in (PENDING, RUNNING)]
        if not targets:
            return
        results = await _gather([self.ctx.runtime.inspect(r.container_id or "") for r in targets])
        for run, result in zip(targets, results, strict=True):
            if isinstance(result, ContainerNotFoundError):
                run.status = STOPPED
                run.reason = run.reason or "DockerStateError: the container was removed from the host"
            elif isinstance(result, BaseException):
                raise result
            else:
                self._apply(run, result)

    def _apply(self, run: ContainerRun, state: ContainerState) -> None:
        run.health = state.health
        if state.started_at is not None and run.run_started_at is None:
            run.run_started_at = state.started_at.timestamp()
        if state.status in (ContainerStatus.EXITED, ContainerStatus.DEAD):
            run.status = STOPPED
            run.exit_code = state.exit_code
            run.finished_at = state.finished_at.timestamp() if state.finished_at is not None else None
            if run.prober is not None:
                run.prober.stop()
                run.prober = None
            if state.oom_killed:
                run.reason = OOM_REASON
            elif state.error and not run.reason:
                run.reason = f"CannotStartContainerError: {state.error}"
        elif state.running:
            run.status = RUNNING
            run.started = True
            if run.plan.spec.port_bindings:
                run.bindings = [
                    {
                        "bindIP": p.host_ip or "0.0.0.0",
                        "containerPort": p.container_port,
                        "hostPort": p.host_port,
                        "protocol": p.protocol,
                    }
                    for p in state.ports
                ]
        elif state.status is ContainerStatus.CREATED and self._stopping():
            run.status = STOPPED  # never started, and never will be

    async def _pull(self) -> None:
        todo = [r for r in self.runs.values() if r.container_id is None and r.status == PENDING]
        if not todo:
            self._pulled = True
            return
        self._pull_started_at = self._pull_started_at or self.ctx.clock.now()
        self._report()
        images = sorted({r.plan.spec.image for r in todo})
        results = await _gather([self.ctx.runtime.ensure_image(i) for i in images])
        for image, result in zip(images, results, strict=True):
            if isinstance(result, EngineUnavailableError):
                raise result
            if isinstance(result, ImagePullError):
                reason = f"CannotPullContainerError: Error response from daemon: {result.engine_message}"
            elif isinstance(result, BaseException):
                reason = f"CannotPullContainerError: {result}"
            else:
                for run in todo:
                    if run.plan.spec.image == image:
                        run.image_digest = result.image_id
                continue
            for run in todo:
                if run.plan.spec.image == image:
                    self._container_failed(run, reason)
        self._pulled = True
        self._pull_stopped_at = self.ctx.clock.now()

    async def _ensure_namespace(self) -> None:
        for stale in self._stale_pause:
            await self.ctx.runtime.remove(stale, force=True)
        self._stale_pause.clear()
        spec = self.spec
        iso = self._isolation
        parent = await iso.cgroup_parent(self.ctx.runtime) if iso is not None else ""
        labels = lbl.container_labels(
            cluster_arn=spec.cluster_arn,
            instance_arn=self.ctx.instance_arn,
            task_arn=spec.task_arn,
            family=spec.family,
            revision=spec.revision,
            container_name="~internal~ecs~pause",
            role=lbl.ROLE_PAUSE,
            task_volumes=task_volume_names(spec),
        )
        if iso is not None:
            labels = iso.pause_labels(labels)
        try:
            await self.ctx.ensure_pause_image()
            namespace = await create_task_namespace(
                self.ctx.runtime,
                network=awsvpc_network(self.ctx.config),
                name=pause_docker_name(spec),
                labels=labels,
                pause_image=self.ctx.config.pause_image,
                cgroup_parent=parent,
                cap_drop=("ALL",) if iso is not None else (),
            )
        except EngineUnavailableError:
            raise
        except ContainerRuntimeError as exc:
            self._fail(
                TASK_FAILED_TO_START, f"ResourceInitializationError: failed to set up the task ENI: {exc}"
            )
            return
        self._pause_id, self._ipv4 = namespace.pause_id, namespace.ipv4
        self._mac = namespace.mac or None

    async def _advance(self) -> None:
        now = self.ctx.clock.now()
        ready: list[ContainerRun] = []
        for run in self.runs.values():
            if run.status != PENDING or run.started:
                continue
            verdict, unmet = dependency_verdict(run, self.runs)
            if verdict is Verdict.NEVER:
                self._container_failed(run, dependency_reason(run.name, unmet), start_failure=False)
            elif verdict is Verdict.WAIT:
                run.waiting_since = run.waiting_since if run.waiting_since is not None else now
                if now - run.waiting_since >= run.plan.start_timeout_s:
                    reason = dependency_reason(run.name, f"{unmet}: timed out after startTimeout")
                    self._container_failed(run, reason, start_failure=False)
            else:
                ready.append(run)
        if len(ready) == 1:
            await self._start(ready[0])  # the common case: no gather machinery per task
        elif ready:
            await asyncio.gather(*(self._start(r) for r in ready))

    async def _start(self, run: ContainerRun) -> None:
        rt = self.ctx.runtime
        spec = run.plan.spec
        if self.awsvpc:
            spec = replace(spec, network=f"container:{self._pause_id}")
        if run.plan.volumes_from:
            spec = replace(
                spec,
                volumes_from=tuple(
                    f"{self.runs[src].container_id}{':ro' if ro else ''}" for src, ro in run.plan.volumes_from
                ),
            )
        if self._isolation is not None:
            spec = self._isolation.container_spec(run.name, spec)
        if run.restart_count:
            # Every attempt is a container of its own (as the kubelet makes them): a fresh
            # writable layer, and the attempt on it for recovery.
            spec = replace(
                spec,
                name=f"{spec.name}-{run.restart_count}",
                labels={**spec.labels, lbl.ATTEMPT: str(run.restart_count)},
            )
        if run.container_id is None:
            try:
                run.container_id = await self._create(spec)
            except EngineUnavailableError:
                raise
            except ContainerRuntimeError as exc:
                self._container_failed(run, f"CannotCreateContainerError: {exc.message}")
                return
        cid = run.container_id
        awslogs = run.plan.awslogs
        stream = run.plan.log_stream(cid, run.restart_count)
        # A restarted container with a prefixed stream writes on to the stream it had (ECS), or
        # to its instance's (a pod's), which its shipper creates: no control-plane call in the
        # way of the restart.
        if awslogs is not None and (not run.restart_count or not awslogs.stream):
            try:
                await self.ctx.logs.prepare(awslogs, stream)
            except TaskSetupError as exc:
                self._container_failed(run, exc.reason)
                return
        try:
            await rt.start(cid)
        except EngineUnavailableError:
            raise
        except ContainerRuntimeError as exc:
            self._container_failed(run, f"CannotStartContainerError: {exc.message}")
            return
        run.status = RUNNING
        run.started = True
        run.run_started_at = self.ctx.clock.now()
        if awslogs is not None:
            self.ctx.logs.follow(cid, awslogs, stream)
        if spec.port_bindings:
            # Dynamic host ports are only known once the engine has published them.
            with contextlib.suppress(ContainerNotFoundError):
                state = await rt.inspect(cid)
                if state.running:
                    self._apply(run, state)
        elif run.plan.host_port_mappings:
            run.bindings = [
                {"bindIP": "0.0.0.0", "containerPort": port, "hostPort": port, "protocol": proto}
                for port, proto in run.plan.host_port_mappings
            ]

    async def _create(self, spec: ContainerSpec) -> str:
        try:
            return await self.ctx.runtime.create(spec)
        except StorageQuotaUnsupportedError as exc:
            if self._isolation is None or spec.storage_size_bytes is None:
                raise
            # The engine's storage driver has no quota after all (overlay2 on xfs without
            # pquota): run without one, and report the storage as not enforced.
            self._isolation.storage_refused(exc.message)
            return await self.ctx.runtime.create(replace(spec, storage_size_bytes=None))

    def _container_failed(self, run: ContainerRun, reason: str, *, start_failure: bool = True) -> None:
        run.status = STOPPED
        run.reason = reason
        if run.plan.essential:
            if start_failure:
                self._fail(TASK_FAILED_TO_START, reason)
            else:
                self._fail(ESSENTIAL_CONTAINER_EXITED, ESSENTIAL_EXITED)

    def _check_essential(self) -> None:
        runs = self.runs.values()
        if any(r.plan.essential and not r.plan.k8s and r.status == STOPPED for r in runs):
            self._fail(ESSENTIAL_CONTAINER_EXITED, ESSENTIAL_EXITED)
        # A pod runs until all of its containers have ended for good (restartPolicy Never or
        # OnFailure), whichever ended first.
        apps = [r for r in runs if r.plan.k8s == "app"]
        if apps and all(r.status == STOPPED for r in apps):
            self._fail(ESSENTIAL_CONTAINER_EXITED, ESSENTIAL_EXITED)

    # -- restarts and probes ---------------------------------------------------------------------

    async def _restart_step(self) -> None:
        """Judge each new exit of a container with a restart policy (once: the ECS rule depends
        on time), and start the attempts that are due. Stopping: nothing restarts."""
        if self._stale_containers:
            await self._remove_stale()
        now = self.ctx.clock.now()
        for run in self.runs.values():
            tracker = run.restarts
            if tracker is None:
                continue
            if run.status == STOPPED and not run.settled and run.started and run.container_id:
                run.settled = True
                if self._stopping():
                    continue
                finished = run.finished_at if run.finished_at is not None else now
                decision = tracker.decide(
                    exit_code=run.exit_code,
                    killed_by=run.killing,
                    started_at=run.run_started_at,
                    finished_at=finished,
                    now=now,
                )
                if not decision.restart:
                    log.info(
                        "task %s: %s is not restarted: %s", task_id(self.arn), run.name, decision.why_not
                    )
                    continue
                run.begin_restart(now + decision.delay_s, backing_off=decision.delay_s > 0)
            if run.status == PENDING and run.started and not self._stopping():
                await self._start(run)  # a restart the engine interrupted: again
                continue
            if run.status != RESTARTING:
                continue
            if self._stopping():
                run.end_restart()
            elif run.restart_at is not None and now >= run.restart_at:
                await self._restart(run, now)

    async def _restart(self, run: ContainerRun, now: float) -> None:
        stale = run.next_attempt(now)
        log.info("task %s: restarting %s (restart %d)", task_id(self.arn), run.name, run.restart_count)
        await self._start(run)
        if stale is not None:
            self._stale_containers.append(stale)  # removed at the next step

    async def _remove_stale(self) -> None:
        """Remove older attempts' containers once their output is shipped."""
        keep = []
        for stale in self._stale_containers:
            if self.ctx.logs.shipping(stale):
                keep.append(stale)
                continue
            with contextlib.suppress(ContainerNotFoundError):
                await self.ctx.runtime.remove(stale, force=True)
            self.ctx.logs.forget(stale)
        self._stale_containers = keep

    def _kill_step(self) -> None:
        """A failed liveness or startup probe: stop the container as StopTask would (SIGTERM,
        SIGKILL after its grace); its exit is then judged by its restart policy."""
        for run in self.runs.values():
            prober = run.prober
            if run.status != RUNNING or prober is None or not prober.kill or run.killing:
                continue
            run.killing = prober.kill
            log.info("task %s: killing %s: %s probe failed", task_id(self.arn), run.name, prober.kill)
            killer = asyncio.create_task(self._kill(run), name=f"kill-{task_id(self.arn)}-{run.name}")
            self._killers.add(killer)
            killer.add_done_callback(self._killers.discard)

    async def _kill(self, run: ContainerRun) -> None:
        try:
            await self._stop_one(run)
        finally:
            self.poke()

    def _ensure_probes(self) -> None:
        """Probes run while a container runs: from its start (or its adoption) to its exit."""
        for run in self.runs.values():
            if not run.plan.probes or run.prober is not None or run.killing:
                continue
            if run.status != RUNNING or run.container_id is None or self._stopping():
                continue
            run.prober = ContainerProber(
                run.plan.probes,
                check=partial(run_check, self.ctx.runtime, run.container_id, self._ipv4 or "127.0.0.1"),
                clock=self.ctx.clock,
                started_at=run.run_started_at if run.run_started_at is not None else self.ctx.clock.now(),
                on_change=self.poke,
                on_failure=partial(self._probe_failed, run),
            )
            run.prober.start()

    def _probe_failed(self, run: ContainerRun, probe: str, message: str) -> None:
        run.probe_failures += 1
        run.probe_failure = (probe, message)
        self.poke()

    def _stop_probes(self) -> None:
        for run in self.runs.values():
            if run.prober is not None:
                run.prober.stop()
                run.prober = None

    # -- stopping --------------------------------------------------------------------------------

    def _begin_stop(self) -> None:
        if self._stop_task is None or self._stop_task.done():
            self._stop_task = asyncio.create_task(self._stop_all(), name=f"stop-{task_id(self.arn)}")

    async def _stop_all(self) -> None:
        try:
            for level in stop_levels(list(self.runs.values())):
                targets = [r for r in level if r.container_id and r.status != STOPPED]
                await asyncio.gather(*(self._stop_one(r) for r in targets))
            for run in self.runs.values():
                if run.container_id is None and run.status == PENDING:
                    run.status = STOPPED
        finally:
            self.poke()

    async def _stop_one(self, run: ContainerRun) -> None:
        try:
            await self.ctx.runtime.stop(run.container_id or "", run.plan.stop_timeout_s)
        except ContainerNotFoundError:
            pass
        except ContainerRuntimeError as exc:
            log.warning("task %s: stop %s: %s", task_id(self.arn), run.name, exc)

    async def _finish(self) -> None:
        self._stop_probes()
        self._execution_stopped_at = self._execution_stopped_at or self.ctx.clock.now()
        if self._pause_id is not None:
            with contextlib.suppress(ContainerNotFoundError):
                await self.ctx.runtime.remove(self._pause_id, force=True)
        # Let the log shippers send the last lines first: whoever sees STOPPED finds them.
        ids = [r.container_id for r in self.runs.values() if r.container_id and r.plan.awslogs]
        if ids:
            drained = asyncio.ensure_future(self.ctx.logs.drained(ids))
            timer = asyncio.ensure_future(self.ctx.clock.sleep(_LOG_DRAIN_S))
            await asyncio.wait((drained, timer), return_when=asyncio.FIRST_COMPLETED)
            drained.cancel()
            timer.cancel()
        self.finished = True
        self._report()
        if self._isolation is not None:
            await self._isolation.release(self.ctx.runtime)  # after the report: it may wait

    # -- reporting -------------------------------------------------------------------------------

    def _task_status(self) -> str:
        if self.finished:
            return STOPPED
        if not self._reached_running:
            pending = any(r.status == PENDING for r in self.runs.values())
            if not pending and any(r.started for r in self.runs.values()):
                self._reached_running = True
                self._started_at = self._started_at or self.ctx.clock.now()
        return RUNNING if self._reached_running else PENDING

    def _report(self) -> None:
        status = self._task_status()
        interfaces = network_interfaces(self.spec, self._ipv4)
        body: JSON = {
            "task": self.arn,
            "lastStatus": status,
            "containers": [r.report(network_interfaces=interfaces) for r in self.runs.values()],
            "healthStatus": task_health(list(self.runs.values())),
        }
        attachments = eni_attachments(
            self.spec, self._ipv4, self.ctx.config.region, stopped=status == STOPPED, mac=self._mac
        )
        if attachments:
            body["attachments"] = attachments
        if self._isolation is not None and (isolation := self._isolation.report()) is not None:
            body["isolation"] = isolation
        for key, value in (
            ("pullStartedAt", self._pull_started_at),
            ("pullStoppedAt", self._pull_stopped_at),
            ("startedAt", self._started_at if self._reached_running else None),
            ("executionStoppedAt", self._execution_stopped_at if status == STOPPED else None),
        ):
            if value is not None:
                body[key] = value
        if status == STOPPED and self._stop_cause is not None:
            # Only set while the task was not (yet) asked to stop: the cause came first. A task
            # stopped on request carries no code from here: the control plane has UserInitiated.
            body["stopCode"], body["stoppedReason"] = self._stop_cause
        if body != self._last_report:
            self._last_report = body
            self.ctx.reporter.submit(body)

    def _report_setup_failure(self, error: TaskSetupError) -> None:
        now = self.ctx.clock.now()
        containers = []
        for d in self.spec.container_definitions():
            name = str(d.get("name", ""))
            report: JSON = {"name": name, "lastStatus": STOPPED, "healthStatus": "UNKNOWN"}
            if not error.container or error.container == name:
                report["reason"] = error.reason[:1024]
            containers.append(report)
        self.finished = True
        self.ctx.reporter.submit(
            {
                "task": self.arn,
                "lastStatus": STOPPED,
                "containers": containers,
                "executionStoppedAt": now,
                "stopCode": TASK_FAILED_TO_START,
                "stoppedReason": error.reason[:1024],
            }
        )


async def _gather(aws: list[Coroutine[Any, Any, T]]) -> list[T | BaseException]:
    """``asyncio.gather(*aws, return_exceptions=True)``, awaiting a lone one directly: most
    tasks have one container, and thousands of simulated runners made gather's futures and
    tasks a profile hot spot."""
    if len(aws) != 1:
        return await asyncio.gather(*aws, return_exceptions=True)
    try:
        return [await aws[0]]
    except Exception as exc:
        return [exc]
