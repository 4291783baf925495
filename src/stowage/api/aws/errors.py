"""AWS error responses: one exception type carrying the ``__type`` code, HTTP status and message.

Handlers raise ``AwsError`` (or a helper below); the protocol layer turns it into the JSON body
``{"__type": code, "message": message}`` with the status, as AWS JSON 1.0/1.1 services do.
Anything else a handler raises becomes a logged ``ServerException`` (HTTP 500) and is a bug.
"""

from __future__ import annotations


class AwsError(Exception):
    """An error answer. ``code`` is the shape name botocore maps to an exception class."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def serialization_error(message: str) -> AwsError:
    return AwsError("SerializationException", message)


def unknown_operation(message: str = "") -> AwsError:
    return AwsError("UnknownOperationException", message)


def validation_error(message: str) -> AwsError:
    return AwsError("ValidationException", message)


def server_error(message: str = "An internal error occurred.") -> AwsError:
    return AwsError("ServerException", message, status=500)
