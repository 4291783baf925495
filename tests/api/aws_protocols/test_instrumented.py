"""Request metrics name CloudWatch operations whichever protocol carried them."""

from __future__ import annotations

from stowage.api.aws.app import AwsApi
from stowage.api.aws.service import AwsService
from stowage.api.metrics.instrument import Instrumented
from stowage.controllers.telemetry import RequestStats
from tests.api.aws.support import lookup, serve
from tests.api.aws_protocols.support import MetricsBook, client


def test_json_and_cbor_requests_are_counted_by_operation() -> None:
    app = AwsApi([AwsService("cloudwatch", MetricsBook().handlers())], lookup, strict_shapes=True)
    stats = RequestStats()
    with serve(Instrumented(app, app.catalog, stats)) as host:  # type: ignore[arg-type]
        client("json", host).list_metrics(Namespace="a")
        cbor = client("cbor", host)
        cbor.list_metrics(Namespace="b")
        cbor.list_metrics(Namespace="c")
        client("query", host).list_metrics(Namespace="d")
    assert stats.requests[("cloudwatch", "ListMetrics", 200)] == 3
    assert stats.requests[("rest", "POST", 200)] == 1  # query requests: the action is in the body
