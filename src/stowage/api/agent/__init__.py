"""The host agent's channel to the control plane: the ``stowage-agent`` service (see
``stowage.model.aws_models``), served by the same protocol layer as ECS."""
