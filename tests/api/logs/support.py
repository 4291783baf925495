"""Helpers for the CloudWatch Logs API tests: unique names, the clock, error assertions."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

_n = itertools.count()


def unique(prefix: str = "/test/") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}-{next(_n)}"


def now_ms() -> int:
    return int(time.time() * 1000)


def expect_error(code: str, call: Callable[[], Any], message: str | None = None) -> ClientError:
    with pytest.raises(ClientError) as info:
        call()
    err = info.value.response["Error"]
    assert err["Code"] == code, err
    if message is not None:
        assert err["Message"] == message
    return info.value
