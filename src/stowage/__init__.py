"""stowage: self-hosted container orchestration serving the ECS, Fargate and EKS APIs."""

__version__ = "0.1.0"
