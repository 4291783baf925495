"""Which protocols the catalog serves for a model, and how each finds the same operation."""

from __future__ import annotations

from typing import Any

import pytest

from stowage.api.aws.catalog import CBOR, JSON, QUERY, build_catalog
from stowage.api.aws.context import RequestContext
from stowage.api.aws.service import AwsService


async def _ok(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {}


def test_cloudwatch_is_served_over_all_three_protocols() -> None:
    catalog = build_catalog([AwsService("cloudwatch", {"ListMetrics": _ok})], strict=True)
    op = catalog.operations["GraniteServiceVersion20100801.ListMetrics"]
    assert op.service.protocols == frozenset({JSON, CBOR, QUERY})
    assert op.service.content_type == "application/x-amz-json-1.0"
    assert op.service.signing_name == "monitoring"
    assert catalog.query_actions[("2010-08-01", "ListMetrics")] is op
    assert op.validation_code == "ValidationException"  # awsQueryCompatible: ValidationError
    assert op.query is not None and op.query.result_wrapper == "ListMetricsResult"


def test_json_only_services_keep_their_own_validation_code() -> None:
    catalog = build_catalog([AwsService("ecs", {"ListClusters": _ok})], strict=True)
    op = catalog.operations["AmazonEC2ContainerServiceV20141113.ListClusters"]
    assert op.service.protocols == frozenset({JSON})
    assert op.service.query_errors is None
    assert op.serialize_cbor is None and op.query is None
    assert op.validation_code == "InvalidParameterException"
    assert catalog.query_actions == {}


def test_a_model_with_no_served_protocol_is_refused() -> None:
    with pytest.raises(ValueError, match="include none of"):
        build_catalog([AwsService("eks", {})], strict=True)  # rest-json: served by rest.RestCatalog
