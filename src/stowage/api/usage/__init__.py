"""stowage's own administrative API: the ``stowage`` service (see ``stowage.model.aws_models``),
served and signed like every AWS service on the endpoint: ``GetUsage``, Fargate usage and cost
(docs/fargate.md, "Metering and billing"); ``ReclaimSpotCapacity``; ``GetTaskMetrics``, the
latest CPU and memory use of tasks, services and hosts (docs/metrics.md, ``stowage top``)."""
