"""What the CloudWatch handlers share: their errors (the query-era codes CloudWatch answers,
``api/aws/compat``), pagination tokens, dimension lists and percentile names."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from stowage.api.aws import page_tokens
from stowage.api.aws.errors import AwsError

MAX_DIMENSIONS = 30
_PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d{0,10})?|100(\.0{0,10})?)$")


def invalid_value(message: str) -> AwsError:
    return AwsError("InvalidParameterValue", message)


def missing(message: str) -> AwsError:
    return AwsError("MissingParameter", message)


def combination(message: str) -> AwsError:
    return AwsError("InvalidParameterCombination", message)


def validation(message: str) -> AwsError:
    return AwsError("ValidationError", message)


def not_found(message: str) -> AwsError:
    return AwsError("ResourceNotFound", message, status=404)


def invalid_token() -> AwsError:
    return AwsError("InvalidNextToken", "The service couldn't process the NextToken. Try again.")


def is_percentile(name: str) -> bool:
    return _PERCENTILE.match(name) is not None


def encode_token(operation: str, state: dict[str, Any]) -> str:
    return page_tokens.encode(operation, state)


def decode_token(operation: str, token: str) -> dict[str, Any]:
    value = page_tokens.decode(operation, token)
    if value is None:
        raise invalid_token()
    return value


def dimensions(given: Sequence[dict[str, Any]] | None, member: str) -> dict[str, str]:
    """A Dimensions list as a mapping; more than 30 or a repeated name is refused."""
    items = list(given or [])
    if len(items) > MAX_DIMENSIONS:
        raise invalid_value(f"The collection {member} must not have a size greater than {MAX_DIMENSIONS}.")
    out: dict[str, str] = {}
    for i, d in enumerate(items, 1):
        name, value = d.get("Name"), d.get("Value")
        if not name:
            raise missing(f"The parameter {member}.member.{i}.Name is required.")
        if value is None:
            raise missing(f"The parameter {member}.member.{i}.Value is required.")
        if name in out:
            raise invalid_value(f"No Metric may specify the same dimension name twice: {name}.")
        out[str(name)] = str(value)
    return out


def dimension_list(dims: dict[str, str]) -> list[dict[str, str]]:
    return [{"Name": k, "Value": v} for k, v in dims.items()]
