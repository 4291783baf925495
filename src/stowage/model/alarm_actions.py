"""The contract between CloudWatch alarms and what their actions reach (Application Auto Scaling
step policies, and anything added later): an alarm evaluation hands each action ARN of the
state it is in to the sink registered for that ARN's prefix.

CloudWatch invokes an alarm's actions when the alarm changes state, and, for Auto Scaling
actions, again at every evaluation while the alarm stays in ALARM (so a step policy keeps
scaling while the breach lasts, within its cooldown). ``AlarmFiring`` carries what a step
policy needs: the aggregated value that breached and the threshold it is measured against
(step adjustments are bounds relative to ``value - threshold``).

Pure data; the evaluator (controllers) calls ``ActionSink``s, Application Auto Scaling provides one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

ALARM = "ALARM"
OK = "OK"
INSUFFICIENT_DATA = "INSUFFICIENT_DATA"
STATES = (ALARM, OK, INSUFFICIENT_DATA)

AUTOSCALING_ARN_PREFIX = "arn:aws:autoscaling:"
"""Application Auto Scaling policy ARNs: ``arn:aws:autoscaling:<region>:<account>:scalingPolicy:
<uuid>:resource/ecs/service/<cluster>/<service>:policyName/<name>``."""


@dataclass(frozen=True, slots=True)
class AlarmFiring:
    account: str
    region: str
    alarm_name: str
    alarm_arn: str
    state: str
    """The state the alarm is in now: ``ALARM``, ``OK`` or ``INSUFFICIENT_DATA``."""
    previous_state: str
    transition: bool
    """True on the evaluation that changed the state; False when an action is re-invoked
    because the alarm stayed in ALARM."""
    threshold: float
    comparison: str
    """The alarm's ``ComparisonOperator``, e.g. ``GreaterThanOrEqualToThreshold``."""
    value: float | None
    """The newest evaluated data point (the alarm's statistic over one period); None when the
    state is INSUFFICIENT_DATA."""
    recent_datapoints: tuple[float, ...]
    """The data points the evaluation looked at, oldest first."""
    timestamp: float
    """Epoch seconds of the evaluation."""


class ActionFailed(Exception):
    """What a sink raises when the action could not be carried out (e.g. no such scaling
    policy): the alarm's history records "Failed to execute action <arn>. Received error: <msg>"."""


ActionSink = Callable[[str, AlarmFiring], Awaitable[None]]
"""Called with one action ARN and the firing. Raises ``ActionFailed`` (any exception is taken as
a failure) when the action could not be carried out; a failing action never stops alarm
evaluation."""

ActionSinks = Mapping[str, ActionSink]
"""ARN prefix (e.g. ``AUTOSCALING_ARN_PREFIX``) → the sink for ARNs starting with it."""


def sink_for(sinks: ActionSinks, arn: str) -> ActionSink | None:
    """The sink whose prefix is the longest one ``arn`` starts with."""
    best: tuple[int, ActionSink] | None = None
    for prefix, sink in sinks.items():
        if arn.startswith(prefix) and (best is None or len(prefix) > best[0]):
            best = (len(prefix), sink)
    return best[1] if best else None
