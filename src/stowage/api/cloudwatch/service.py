"""The ``cloudwatch`` service: botocore's model plus the handlers, bound to the metrics pipeline
(queries, listing, custom metrics), the alarm records and the alarm evaluator."""

from __future__ import annotations

import functools

from stowage.api.aws.service import AwsService
from stowage.api.cloudwatch import alarm_config, alarm_reads
from stowage.api.cloudwatch.list_metrics import list_metrics
from stowage.api.cloudwatch.metric_reads import get_metric_data, get_metric_statistics
from stowage.api.cloudwatch.put_metric_data import put_metric_data
from stowage.controllers.alarms import AlarmEvaluator
from stowage.controllers.metrics import Metrics

SERVICE_NAME = "cloudwatch"


def cloudwatch_service(metrics: Metrics, evaluator: AlarmEvaluator) -> AwsService:
    alarms = evaluator.alarms
    on_alarms = {
        "PutMetricAlarm": alarm_config.put_metric_alarm,
        "DeleteAlarms": alarm_config.delete_alarms,
        "EnableAlarmActions": alarm_config.enable_alarm_actions,
        "DisableAlarmActions": alarm_config.disable_alarm_actions,
        "TagResource": alarm_config.tag_resource,
        "UntagResource": alarm_config.untag_resource,
        "ListTagsForResource": alarm_config.list_tags_for_resource,
        "DescribeAlarms": alarm_reads.describe_alarms,
        "DescribeAlarmsForMetric": alarm_reads.describe_alarms_for_metric,
        "DescribeAlarmHistory": alarm_reads.describe_alarm_history,
    }
    handlers = {name: functools.partial(handler, alarms) for name, handler in on_alarms.items()}
    handlers.update(
        {
            "GetMetricData": functools.partial(get_metric_data, metrics),
            "GetMetricStatistics": functools.partial(get_metric_statistics, metrics),
            "ListMetrics": functools.partial(list_metrics, metrics),
            "PutMetricData": functools.partial(put_metric_data, metrics),
            "SetAlarmState": functools.partial(alarm_reads.set_alarm_state, evaluator),
        }
    )
    return AwsService(SERVICE_NAME, handlers)
