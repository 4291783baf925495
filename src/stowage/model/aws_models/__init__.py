"""Service models stowage defines itself, in botocore's format, so the protocol layer serves them
and botocore-style clients call them exactly as they do AWS's own services.

``stowage-agent``: the host agent's channel to the control plane (assignment polling, which is
also its heartbeat; task and container state reports; usage samples). AWS's own ECS agent
uses a private WebSocket protocol for this; ours is signed AWS JSON 1.1, as HTTP requests or as
messages on one WebSocket per agent (``AGENT_CHANNEL_PATH``, served by ``api/aws/channel``).

``stowage``: stowage's own administration on the same endpoint (signing name ``stowage``):
``GetUsage``, Fargate usage and cost (docs/fargate.md).
"""

from __future__ import annotations

from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent
"""Add to a botocore ``Loader``'s search paths to load these models."""

AGENT_CHANNEL_PATH = "/agent/channel"
"""Where an agent opens its WebSocket channel to the ``stowage-agent`` service."""
