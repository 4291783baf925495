"""A botocore client for stowage's own ``stowage`` service (GetUsage), built from its model in
``stowage.model.aws_models`` exactly as any botocore client is: real SigV4, real HTTP.

    usage = usage_client(server.endpoint)
    usage.get_usage(cluster="demo", groupBy="TASK", since=datetime(...))
"""

from __future__ import annotations

from typing import Any

import botocore.config
import botocore.session

from stowage.model.aws_models import MODELS_DIR
from tests.support.server import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY


def usage_client(endpoint: str, **kwargs: Any) -> Any:
    session = botocore.session.get_session()
    session.get_component("data_loader").search_paths.append(str(MODELS_DIR))
    return session.create_client(
        "stowage",
        endpoint_url=endpoint,
        region_name=kwargs.pop("region_name", REGION),
        aws_access_key_id=kwargs.pop("aws_access_key_id", ACCESS_KEY_ID),
        aws_secret_access_key=kwargs.pop("aws_secret_access_key", SECRET_ACCESS_KEY),
        config=botocore.config.Config(retries={"max_attempts": 1}),
        **kwargs,
    )
