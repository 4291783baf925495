"""`Agent`: one host's agent. Registers, recovers, then keeps the host matching its assignments.

Start-up: register the container instance (re-registering the ARN saved in the state directory,
so a restart is the same instance), then list the containers this instance labelled on the
engine: after a restart they are adopted by the task runners, never duplicated or killed.

Then, concurrently:
- the assignment loop: PollAssignments (a long-poll that is also the heartbeat) returns every
  task assigned to the instance with its desired status; each answer is reconciled against the
  runners (new task → a runner; desired STOPPED → stop; a task no longer assigned → stop). While
  the control plane is unreachable the loop backs off and retries; containers keep running and
  state reports queue up (`StateReporter`) until it answers again.
- the engine event stream: any event of one of our containers wakes its task's runner.
- the stats collector, and the cleanup pass that removes a stopped task's containers (and its
  task-scoped volumes) ``cleanup_wait`` after they exited, as the ECS agent does. The files of
  a task's file volumes (`agent.projected_files`: a pod's ConfigMaps and Secrets) go as soon as
  the task has stopped; the cleanup pass removes any an earlier run of the agent left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson

from stowage.agent import labels as lbl
from stowage.agent import projected_files
from stowage.agent.awslogs import LogRouter
from stowage.agent.clock import Backoff, Clock, SystemClock
from stowage.agent.config import AgentConfig
from stowage.agent.control import ControlPlane, carrying_poll, exec_tunnel
from stowage.agent.exec_sessions import run_session
from stowage.agent.host import cpu_architecture, registration_request
from stowage.agent.identity import Identity, load_identity, save_identity
from stowage.agent.port_forward import PORT_FORWARD, run_port_forward
from stowage.agent.reporter import Ride, StateReporter
from stowage.agent.runner import RunnerContext, TaskRunner
from stowage.agent.stats import StatsCollector, Target
from stowage.agent.task_isolation import FargateHost
from stowage.agent.task_state import STOPPED
from stowage.client import ApiError, ClientError, is_transient
from stowage.model.agent_tasks import TaskSpec
from stowage.runtime.awsvpc import ensure_pause_image
from stowage.runtime.base import ContainerRuntime, ContainerRuntimeError, ContainerState

JSON = dict[str, Any]
log = logging.getLogger(__name__)

# lastStatus values meaning the task's containers were started at some point.
_STARTED_STATUSES = frozenset({"ACTIVATING", "RUNNING", "DEACTIVATING", "STOPPING", "DEPROVISIONING"})
_INSTANCE_GONE_CODES = frozenset({"ClusterNotFoundException", "ClientException", "InvalidParameterException"})


class AgentStopped(Exception):
    """The agent cannot go on (its container instance was deregistered)."""


class Agent:
    def __init__(
        self,
        config: AgentConfig,
        runtime: ContainerRuntime,
        control: ControlPlane,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.config = config
        self.runtime = runtime
        self.control = control
        self.clock = clock or SystemClock()
        self.identity = Identity(host_id="")
        self.reporter = StateReporter(
            control,
            self.clock,
            self._where,
            max_backoff_s=config.max_backoff_s,
            linger_s=config.report_linger_s,
        )
        self._carrier = carrying_poll(control)
        """Set while polls may carry task state reports (the control plane takes them)."""
        self._cut_poll: asyncio.Future[JSON] | None = None
        self.reporter.on_blocked = self._cut_carrying_poll
        self._stirred = False
        """The last answer started runners or changed what one should do."""
        self.logs = LogRouter(
            runtime=runtime,
            control=control,
            clock=self.clock,
            state_dir=config.state_dir,
            flush_interval_s=config.log_flush_interval_s,
            max_backoff_s=config.max_backoff_s,
        )
        self.stats = StatsCollector(
            runtime=runtime,
            control=control,
            clock=self.clock,
            interval_s=config.stats_interval_s,
            where=self._where,
            targets=self._stats_targets,
        )
        self.fargate = FargateHost(runtime)
        self.runners: dict[str, TaskRunner] = {}
        self._runner_tasks: dict[str, asyncio.Task[None]] = {}
        self._finished: set[str] = set()
        self._recovered: dict[str, list[ContainerState]] | None = None
        self._pause_lock = asyncio.Lock()
        self._pause_ready = False
        self._exec_started: set[str] = set()
        self._exec_tasks: set[asyncio.Task[None]] = set()
        self._background: list[asyncio.Task[None]] = []
        self.registered = asyncio.Event()
        self.polls = 0
        self.revision: int | None = None
        self.connected = False

    @property
    def instance_arn(self) -> str:
        return self.identity.instance_arn

    def _where(self) -> tuple[str, str]:
        return self.config.cluster, self.identity.instance_arn

    # -- start-up ---------------------------------------------------------------------------------

    async def run(self) -> None:
        """Register, recover, and run until cancelled (or the instance is deregistered)."""
        try:
            await self.register()
            await self._recover()
            self._background = [
                asyncio.create_task(self.reporter.run(), name="agent-reporter"),
                asyncio.create_task(self._events_loop(), name="agent-events"),
                asyncio.create_task(self.stats.run(), name="agent-stats"),
                asyncio.create_task(self._gc_loop(), name="agent-gc"),
            ]
            await self._poll_loop()
        finally:
            await self.close()

    async def close(self) -> None:
        """Stop the agent's own work. Containers are left running: a restarted agent adopts them."""
        tasks = [*self._background, *self._runner_tasks.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._background.clear()
        self._runner_tasks.clear()
        await self.logs.close()

    def _identity_document(self) -> str:
        doc = {
            "instanceId": self.identity.host_id,
            "region": self.config.region,
            "availabilityZone": self.config.az,
            "architecture": cpu_architecture(),
        }
        if self.config.instance_type:
            doc["instanceType"] = self.config.instance_type
        return orjson.dumps(doc).decode()

    async def register(self) -> None:
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        identity = load_identity(self.config.state_dir)
        if identity.cluster and identity.cluster != self.config.cluster:
            identity = Identity(host_id=identity.host_id)  # another cluster: a new instance there
        self.identity = identity
        backoff = Backoff(base_s=0.5, max_s=self.config.max_backoff_s)
        arn: str | None = identity.instance_arn or None
        while True:
            request = registration_request(
                self.config, instance_arn=arn, identity_document=self._identity_document()
            )
            try:
                instance = await self.control.register(request)
                break
            except ClientError as exc:
                if is_transient(exc):
                    log.warning("control plane unreachable, registration retried: %s", exc)
                    await self.clock.sleep(backoff.next_delay())
                    continue
                if arn is not None and isinstance(exc, ApiError) and exc.code == "InvalidParameterException":
                    log.warning("saved instance %s refused (%s): registering a new instance", arn, exc)
                    arn = None
                    continue
                raise
        self.identity = Identity(
            host_id=identity.host_id,
            cluster=self.config.cluster,
            instance_arn=str(instance["containerInstanceArn"]),
        )
        save_identity(self.config.state_dir, self.identity)
        self.registered.set()
        log.info("registered as %s", self.identity.instance_arn)

    async def _recover(self) -> None:
        backoff = Backoff(base_s=0.5, max_s=self.config.max_backoff_s)
        while True:
            try:
                found = await self.runtime.list(lbl.instance_selector(self.instance_arn))
                break
            except ContainerRuntimeError as exc:
                log.warning("engine not answering, recovery retried: %s", exc)
                await self.clock.sleep(backoff.next_delay())
        by_task: dict[str, list[ContainerState]] = defaultdict(list)
        for state in found:
            by_task[state.labels.get(lbl.TASK_ARN, "")].append(state)
        by_task.pop("", None)
        self._recovered = dict(by_task)
        if found:
            running = sum(1 for s in found if s.running)
            log.info("found %d containers of %d tasks (%d running)", len(found), len(by_task), running)

    async def _ensure_pause_image(self) -> None:
        async with self._pause_lock:
            if not self._pause_ready:
                await ensure_pause_image(self.runtime, self.config.pause_image, labels={lbl.MANAGED: "1"})
                self._pause_ready = True

    # -- assignments ------------------------------------------------------------------------------

    async def _poll_loop(self) -> None:
        backoff = Backoff(base_s=0.5, max_s=self.config.max_backoff_s)
        alone = False
        while True:
            ride = self.reporter.board() if self._carrier is not None and not alone else None
            alone = False
            try:
                answer = await self._poll(ride)
            except ClientError as exc:
                if ride is not None:
                    self.reporter.missed(ride)
                    if not is_transient(exc):
                        # Perhaps a report was refused: the reports go in a call of their own
                        # (whose refusals drop them), the poll again without them.
                        alone = True
                        continue
                self.connected = False
                if not is_transient(exc) and isinstance(exc, ApiError) and exc.code in _INSTANCE_GONE_CODES:
                    log.warning("assignments refused (%s): registering again", exc)
                    with contextlib.suppress(ClientError):
                        await self.register()
                else:
                    log.info("control plane unreachable, assignments retried: %s", exc)
                await self.clock.sleep(backoff.next_delay())
                continue
            if answer is None:  # cut short: a newer report waits for the ones riding on it
                assert ride is not None
                self.reporter.missed(ride)
                alone = True  # they all go in a call of their own now
                continue
            backoff.reset()
            self.connected = True
            self.polls += 1
            if ride is not None:
                self._land(ride, answer)
            inactive = str(answer.get("instanceStatus") or "") == "INACTIVE"
            complete = self.reconcile(answer, stop_all=inactive)
            self._start_exec_sessions(answer.get("execSessions") or [])
            if inactive and not self.runners and not self.reporter.backlog:
                raise AgentStopped(f"container instance {self.instance_arn} was deregistered")
            revision = answer.get("revision")
            self.revision = int(revision) if revision is not None and complete else None
            if self._stirred and self._carrier is not None and self.config.report_linger_s > 0:
                # Containers that start (or stop) at once report within the linger: their
                # reports then ride on the next poll instead of a call of their own.
                await self.clock.sleep(self.config.report_linger_s)

    async def _poll(self, ride: Ride | None) -> JSON | None:
        """One PollAssignments, carrying ``ride``'s reports; None when `_cut_carrying_poll`
        cut it short."""
        if ride is None or self._carrier is None:
            return await self.control.poll(
                self.config.cluster, self.instance_arn, self.revision, self.config.poll_wait_s
            )
        call = asyncio.ensure_future(
            self._carrier.poll_carrying(
                self.config.cluster, self.instance_arn, self.revision, self.config.poll_wait_s, ride.reports
            )
        )
        self._cut_poll = call
        try:
            await asyncio.wait({call})
        finally:
            self._cut_poll = None
            call.cancel()  # a no-op once it is done; when this loop itself is cancelled, it goes too
        return None if call.cancelled() else call.result()

    def _cut_carrying_poll(self) -> None:
        """A report waits for reports riding on the long-poll in progress, which may not answer
        for many seconds: end it now (its reports go again, ahead of the newer one)."""
        if self._cut_poll is not None:
            self._cut_poll.cancel()

    def _land(self, ride: Ride, answer: JSON) -> None:
        results = answer.get("reportResults")
        if isinstance(results, list):
            self.reporter.landed(ride, results)
            return
        # A control plane that does not know reports riding on polls ignored them.
        log.info("the control plane takes no reports on polls: they go in calls of their own")
        self._carrier = None
        self.reporter.missed(ride)

    def _start_exec_sessions(self, sessions: list[JSON]) -> None:
        """``kubectl exec`` and ``port-forward`` sessions for this host's containers, each served
        in the background (an answer may list a session again until the agent has claimed it)."""
        tunnel = exec_tunnel(self.control)
        for session in sessions:
            sid = str(session.get("id"))
            if tunnel is None or sid in self._exec_started:
                continue
            self._exec_started.add(sid)
            serve = run_port_forward if session.get("kind") == PORT_FORWARD else run_session
            task = asyncio.create_task(serve(self.runtime, tunnel, session), name=f"exec-{sid[:8]}")
            self._exec_tasks.add(task)
            task.add_done_callback(self._exec_tasks.discard)

    def reconcile(self, answer: JSON, *, stop_all: bool = False) -> bool:
        """Make the runners match one PollAssignments answer (the complete assignment list).
        ``stop_all``: the instance was deregistered, every task stops. False when a new task
        came without its spec: the next poll must then ask for every spec (no known revision)."""
        seen: set[str] = set()
        resync = False
        self._stirred = False
        for task in answer.get("tasks") or []:
            arn = str(task["taskArn"])
            seen.add(arn)
            desired = STOPPED if stop_all else str(task.get("desiredStatus") or "RUNNING")
            runner = self.runners.get(arn)
            if runner is not None:
                self._stirred |= runner.desired != desired
                runner.set_desired(desired)
                continue
            if arn in self._finished:
                continue
            recovered = (self._recovered or {}).pop(arn, [])
            last = str(task.get("lastStatus") or "")
            if last == STOPPED and not any(s.running for s in recovered):
                continue  # nothing to do; the cleanup pass removes what is left
            if task.get("spec") is None:
                # The control plane sends a spec once; this agent has none for the task (it
                # skipped it, or lost it): ask for everything again on the next poll.
                resync = True
                continue
            try:
                spec = TaskSpec.decode(str(task["spec"]))
            except (ValueError, TypeError, KeyError) as exc:
                log.error("task %s: unreadable spec, skipped: %s", arn, exc)
                self._finished.add(arn)  # the same spec will not read better next time
                continue
            if not recovered and last in _STARTED_STATUSES and desired != STOPPED:
                self._report_lost(spec)
                continue
            self._start_runner(spec, desired, recovered)
        for arn, runner in self.runners.items():
            if arn not in seen:
                self._stirred |= runner.desired != STOPPED
                runner.set_desired(STOPPED)
        if self._recovered is not None:
            # Containers of tasks the control plane no longer assigns here: stop them (their
            # task is over as far as the cluster is concerned); the cleanup pass removes them.
            for arn, states in self._recovered.items():
                for state in states:
                    if state.running:
                        log.warning("stopping %s of unassigned task %s", state.name, arn)
                        self._background.append(asyncio.create_task(self._stop_orphan(state)))
            self._recovered = None
        self._finished &= seen  # forget tombstones the control plane forgot
        return not resync

    async def _stop_orphan(self, state: ContainerState) -> None:
        with contextlib.suppress(ContainerRuntimeError):
            await self.runtime.stop(state.id, self.config.stop_timeout_s)

    def _report_lost(self, spec: TaskSpec) -> None:
        """The control plane says the task ran here, but none of its containers exist any more."""
        reason = "DockerStateError: the task's containers are no longer on the host"
        self.reporter.submit(
            {
                "task": spec.task_arn,
                "lastStatus": STOPPED,
                "containers": [
                    {"name": str(d.get("name")), "lastStatus": STOPPED, "reason": reason}
                    for d in spec.container_definitions()
                ],
                "executionStoppedAt": self.clock.now(),
                "stopCode": "EssentialContainerExited",
                "stoppedReason": reason,
            }
        )
        self._finished.add(spec.task_arn)

    def _start_runner(self, spec: TaskSpec, desired: str, recovered: list[ContainerState]) -> None:
        ctx = RunnerContext(
            runtime=self.runtime,
            clock=self.clock,
            config=self.config,
            reporter=self.reporter,
            logs=self.logs,
            instance_arn=self.instance_arn,
            ensure_pause_image=self._ensure_pause_image,
            fargate=self.fargate,
        )
        runner = TaskRunner(ctx, spec, desired=desired, recovered=recovered)
        self.runners[spec.task_arn] = runner
        self._stirred = True
        task = asyncio.create_task(self._run_runner(runner), name=f"task-{spec.task_arn.rsplit('/', 1)[-1]}")
        self._runner_tasks[spec.task_arn] = task

    async def _run_runner(self, runner: TaskRunner) -> None:
        try:
            await runner.run()
        except Exception:
            log.exception("task runner %s failed", runner.arn)
            raise
        # The containers have stopped for good: a Secret's files need not outlive them.
        projected_files.remove_task_files(self.config.state_dir, runner.arn)
        # Forget the runner once its STOPPED report is settled with the control plane.
        await self.reporter.wait_settled(runner.arn)
        self._finished.add(runner.arn)
        self.runners.pop(runner.arn, None)
        self._runner_tasks.pop(runner.arn, None)

    # -- engine events ----------------------------------------------------------------------------

    async def _events_loop(self) -> None:
        backoff = Backoff(base_s=0.5, max_s=self.config.max_backoff_s)
        since: datetime | None = None
        while True:
            try:
                async for event in self.runtime.events(lbl.instance_selector(self.instance_arn), since=since):
                    since = event.time
                    backoff.reset()
                    runner = self.runners.get(event.labels.get(lbl.TASK_ARN, ""))
                    if runner is not None:
                        runner.poke()
            except ContainerRuntimeError as exc:
                log.info("engine event stream interrupted: %s", exc)
            since = since or datetime.now(UTC)
            for runner in list(self.runners.values()):
                runner.poke()  # events may have been missed: every runner re-inspects
            await self.clock.sleep(backoff.next_delay())

    # -- stats ------------------------------------------------------------------------------------

    def _stats_targets(self) -> Iterable[Target]:
        for arn, runner in list(self.runners.items()):
            for name, cid in runner.running_containers():
                yield arn, name, cid

    # -- cleanup ----------------------------------------------------------------------------------

    async def _gc_loop(self) -> None:
        while True:
            await self.clock.sleep(self.config.gc_interval_s)
            try:
                await self.collect_garbage()
            except ContainerRuntimeError as exc:
                log.info("cleanup pass skipped: %s", exc)

    async def collect_garbage(self) -> int:
        """Remove the containers (and task volumes) of tasks that stopped more than
        ``cleanup_wait`` ago and no runner owns. Returns how many containers were removed."""
        states = await self.runtime.list(lbl.instance_selector(self.instance_arn))
        by_task: dict[str, list[ContainerState]] = defaultdict(list)
        for state in states:
            by_task[state.labels.get(lbl.TASK_ARN, "")].append(state)
        now = self.clock.now()
        removed = 0
        for arn, group in by_task.items():
            if arn in self.runners or (self._recovered is not None and arn in self._recovered):
                continue
            if any(s.running for s in group):
                continue
            finished = [s.finished_at.timestamp() for s in group if s.finished_at is not None]
            if finished and now - max(finished) < self.config.cleanup_wait_s:
                continue
            volumes: set[str] = set()
            cgroups: set[str] = set()
            for state in group:
                volumes.update(lbl.task_volumes_of(state.labels))
                if parent := state.labels.get(lbl.TASK_CGROUP):
                    cgroups.add(parent)
                await self.runtime.remove(state.id, force=True)
                self.logs.forget(state.id)
                removed += 1
            for volume in sorted(volumes):
                with contextlib.suppress(ContainerRuntimeError):
                    await self.runtime.remove_volume(volume)
            for parent in sorted(cgroups):  # left busy when the task stopped: retry now
                with contextlib.suppress(ContainerRuntimeError):
                    await self.runtime.remove_task_cgroup(parent)
        projected_files.sweep(self.config.state_dir, [*self.runners, *(self._recovered or {})])
        return removed
