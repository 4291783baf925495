"""stowage's own administrative API: the ``stowage`` service (see ``stowage.model.aws_models``),
served and signed like every AWS service on the endpoint. Today: ``GetUsage``, Fargate usage
and cost (docs/fargate.md, "Metering and billing")."""
