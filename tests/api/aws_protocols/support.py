"""A small CloudWatch service over the real protocol layer, and clients for each of its protocols.

The handlers are small (a dict of what they were sent, answers built from the request) so the
tests see exactly what the protocol layer delivered and how it came back. ``client("json")`` is
stock boto3, which picks AWS JSON 1.0 for CloudWatch; ``client("cbor")`` and ``client("query")``
are the same boto3 with a copy of botocore's CloudWatch model that lists only that protocol, so
botocore's own RPC v2 CBOR (or query) serializer and parser talk to the server, as SDKs that
prefer CBOR, and older SDKs and CLIs that speak query, do.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import botocore.session
import cbor2
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.loaders import Loader

from stowage.api.aws.context import RequestContext
from stowage.api.aws.errors import AwsError
from stowage.api.aws.service import Handler
from tests.api.aws.support import ACCESS_KEY_ID, SECRET, RawClient, Response

PREFIX = "GraniteServiceVersion20100801"
CBOR_CTYPE = "application/cbor"
WIDGET_PNG = b"\x89PNG\r\n\x1a\n\x00\x01\xff"


@dataclass
class MetricsBook:
    """Records each request's params; answers are built from them."""

    seen: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def handlers(self) -> dict[str, Handler]:
        return {
            "ListMetrics": self.list_metrics,
            "GetMetricStatistics": self.get_metric_statistics,
            "PutMetricData": self.put_metric_data,
            "GetMetricWidgetImage": self.get_metric_widget_image,
            "DescribeAlarms": self.describe_alarms,
        }

    def last(self, operation: str) -> dict[str, Any]:
        return next(params for op, params in reversed(self.seen) if op == operation)

    async def list_metrics(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.seen.append(("ListMetrics", params))
        namespace = params.get("Namespace", "")
        if namespace.startswith("raise."):
            # "raise.<Code>.<status>": the handler raises that code (a shape name or a query code).
            _, code, status = namespace.split(".")
            raise AwsError(code, f"raised {code}", int(status))
        if namespace == "explode":
            raise RuntimeError("handler bug: internal detail")
        if params.get("NextToken") == "next-1":
            return {"Metrics": []}  # the last page (the CLI follows tokens)
        metric = {"Namespace": namespace, "MetricName": params.get("MetricName", "m"), "Dimensions": []}
        metric["Dimensions"] = [
            {"Name": d["Name"], "Value": d.get("Value", "*")} for d in params.get("Dimensions", [])
        ]
        return {"Metrics": [metric], "NextToken": "next-1", "OwningAccounts": [ctx.account_id]}

    async def get_metric_statistics(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.seen.append(("GetMetricStatistics", params))
        start, end = params["StartTime"], params["EndTime"]
        return {
            "Label": params["MetricName"],
            "Datapoints": [
                # A float timestamp, an integer double, an extended-statistics map.
                {
                    "Timestamp": start,
                    "Sum": 3,
                    "Average": 1.25,
                    "Unit": "Count",
                    "ExtendedStatistics": {"p99": 2},
                },
                # A datetime timestamp (handlers may return either).
                {"Timestamp": datetime.fromtimestamp(end, UTC), "Maximum": -0.5},
            ],
        }

    async def put_metric_data(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.seen.append(("PutMetricData", params))
        return {}

    async def get_metric_widget_image(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.seen.append(("GetMetricWidgetImage", params))
        return {"MetricWidgetImage": WIDGET_PNG + params["MetricWidget"].encode()}

    async def describe_alarms(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        # An answer outside the output shape: a server error in strict mode.
        return {"MetricAlarms": [{"AlarmName": "a", "NotAMember": 1}]}


_WIRE = {"json": "json", "cbor": "smithy-rpc-v2-cbor", "query": "query"}


@cache
def _models_listing_only(protocol: str) -> str:
    """A data directory whose CloudWatch model lists only ``protocol`` (botocore would pick JSON)."""
    root = Path(tempfile.mkdtemp(prefix=f"cw-{protocol}-model-"))
    model = Loader().load_service_model("cloudwatch", "service-2")
    model["metadata"]["protocols"] = [protocol]
    version = model["metadata"]["apiVersion"]
    (root / "cloudwatch" / version).mkdir(parents=True)
    (root / "cloudwatch" / version / "service-2.json").write_text(json.dumps(model))
    return str(root)


def client(protocol: str, host: str, **kwargs: Any) -> Any:
    """A boto3 CloudWatch client speaking ``json`` (stock), ``cbor`` or ``query``."""
    session = botocore.session.Session()
    if protocol != "json":
        session.get_component("data_loader").search_paths.insert(0, _models_listing_only(_WIRE[protocol]))
    made = boto3.Session(botocore_session=session).client(
        "cloudwatch",
        endpoint_url=f"http://{host}",
        region_name=kwargs.pop("region_name", "us-east-1"),
        aws_access_key_id=kwargs.pop("aws_access_key_id", ACCESS_KEY_ID),
        aws_secret_access_key=kwargs.pop("aws_secret_access_key", SECRET),
        config=botocore.config.Config(
            retries={"max_attempts": 1},
            parameter_validation=kwargs.pop("validate", True),
            disable_request_compression=not kwargs.pop("compress", True),
        ),
    )
    assert made.meta.service_model.resolved_protocol == _WIRE[protocol]
    return made


def protocol_of(cw: Any) -> str:
    """``json``, ``cbor`` or ``query``: what ``client`` was asked for."""
    wire = cw.meta.service_model.resolved_protocol
    return next(short for short, name in _WIRE.items() if name == wire)


def signed_headers(
    host: str, path: str, body: bytes, headers: dict[str, str], *, method: str = "POST", **kw: Any
) -> dict[str, str]:
    """``headers`` plus a SigV4 signature by botocore's SigV4Auth (all of them signed)."""
    request = AWSRequest(method=method, url=f"http://{host}{path}", data=body, headers=headers)
    creds = Credentials(kw.get("key", ACCESS_KEY_ID), kw.get("secret", SECRET))
    SigV4Auth(creds, kw.get("service", "monitoring"), kw.get("region", "us-east-1")).add_auth(request)
    return dict(request.headers.items())


def cbor_call(
    raw: RawClient,
    operation: str,
    body: bytes | Any,
    *,
    path: str | None = None,
    extra: dict[str, str] | None = None,
    drop: tuple[str, ...] = (),
    content_type: str | None = CBOR_CTYPE,
    **sign_kw: Any,
) -> Response:
    """A signed RPC v2 CBOR request; ``body`` is bytes as sent, or a value to encode.

    ``extra`` headers are signed too; ``drop`` removes headers after signing (a request that
    lacks them, or whose signature no longer matches when they were signed)."""
    data = body if isinstance(body, bytes) else cbor2.dumps(body)
    path = path or f"/service/{PREFIX}/operation/{operation}"
    headers = {"smithy-protocol": "rpc-v2-cbor", "Accept": CBOR_CTYPE}
    if content_type is not None:
        headers["Content-Type"] = content_type
    headers.update(extra or {})
    headers = signed_headers(raw.host, path, data, headers, **sign_kw)
    for name in drop:
        headers = {k: v for k, v in headers.items() if k.lower() != name.lower()}
    return raw.request("POST", path, data, headers)
