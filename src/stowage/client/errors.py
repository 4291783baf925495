"""The client's exception hierarchy.

``ClientError`` is the base. ``ApiError`` is an answer from the service: the ``__type`` code (the
botocore shape name, e.g. ``ClusterNotFoundException``), its message and the HTTP status.
``EndpointUnavailableError`` means no answer at all (connection refused, reset, timed out) after
the retries. ``is_transient`` tells the two kinds a caller should retry later (no answer, or a
5xx) from the ones it should not (any 4xx: the request itself is wrong).
"""

from __future__ import annotations


class ClientError(Exception):
    """Base of every error the client raises."""


class ApiError(ClientError):
    """The service answered with an error."""

    def __init__(self, code: str, message: str, status: int, operation: str = "") -> None:
        super().__init__(f"{operation + ': ' if operation else ''}{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.operation = operation


class EndpointUnavailableError(ClientError):
    """The endpoint could not be reached (or did not answer in time)."""


def is_transient(exc: BaseException) -> bool:
    """Whether retrying the same request later may succeed."""
    if isinstance(exc, EndpointUnavailableError):
        return True
    return isinstance(exc, ApiError) and exc.status >= 500
