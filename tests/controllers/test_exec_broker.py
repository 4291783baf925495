"""The exec broker: a session wakes its host's long-poll, is offered to that host only, can be
claimed once, and is dropped when no agent claims it in time."""

from __future__ import annotations

import asyncio

from stowage.controllers.ecs_index import EcsIndex
from stowage.controllers.exec_broker import CLAIM_TIMEOUT, ExecBroker

HOST = "/ecs/1/us-east-1/container-instances/c/i-1"


def test_a_session_wakes_its_host_and_is_claimed_once() -> None:
    async def main() -> None:
        index = EcsIndex()
        now = [100.0]
        broker = ExecBroker(index, clock=lambda: now[0])
        poll = asyncio.create_task(index.wait_change(HOST, known=0, within=30))
        await asyncio.sleep(0)
        session = broker.open(HOST, task_arn="arn:t", container="c", command=["sh"], tty=False, stdin=True)
        await asyncio.wait_for(poll, 1)  # the long-poll answered at once
        assert [r.id for r in broker.pending(HOST)] == [session.request.id]
        assert broker.pending("/ecs/1/us-east-1/container-instances/c/i-2") == []
        assert broker.claim(session.request.id) is session
        assert broker.claim(session.request.id) is None  # a secret good for one claim
        assert broker.pending(HOST) == []
        late = broker.open(HOST, task_arn="arn:t", container="c", command=["true"], tty=False, stdin=False)
        now[0] += CLAIM_TIMEOUT + 1
        assert broker.pending(HOST) == []
        assert broker.claim(late.request.id) is None

    asyncio.run(main())
