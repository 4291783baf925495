"""Which AWS JSON services the client speaks, read from their botocore models.

The target prefix (``X-Amz-Target``), JSON version (content type) and SigV4 signing name come
from each model's metadata, as botocore itself takes them: ``ecs`` and ``logs`` from botocore's
bundled models, ``stowage-agent`` and ``stowage`` (administration: usage) from
``stowage.model.aws_models``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from botocore.loaders import Loader

from stowage.model.aws_models import MODELS_DIR

ECS = "ecs"
LOGS = "logs"
AGENT = "stowage-agent"
STOWAGE = "stowage"


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    name: str
    target_prefix: str
    signing_name: str
    content_type: str


@cache
def service_info(name: str) -> ServiceInfo:
    loader = Loader(extra_search_paths=[str(MODELS_DIR)])
    meta = loader.load_service_model(name, "service-2")["metadata"]
    return ServiceInfo(
        name=name,
        target_prefix=meta["targetPrefix"],
        signing_name=meta.get("signingName") or meta["endpointPrefix"],
        content_type=f"application/x-amz-json-{meta.get('jsonVersion', '1.0')}",
    )
