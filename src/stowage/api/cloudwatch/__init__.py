"""The CloudWatch API (``cloudwatch``, monitoring): metric queries over the metrics pipeline
(``GetMetricData``, ``GetMetricStatistics``, ``ListMetrics``), custom metrics (``PutMetricData``),
metric alarms with their history, actions and tags. docs/metrics.md, "CloudWatch API"."""
