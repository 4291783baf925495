"""AWS error responses: one exception type carrying the ``__type`` code, HTTP status and message.

Handlers raise ``AwsError`` (or a helper below); the protocol layer turns it into the JSON body
``{"__type": code, "message": message}`` with the status, as AWS JSON 1.0/1.1 services do.
Anything else a handler raises becomes a logged ``ServerException`` (HTTP 500) and is a bug.
The other protocols render the same ``AwsError`` their way (CBOR map, query ``<ErrorResponse>``);
for ``awsQueryCompatible`` services (CloudWatch) ``code`` may be the shape name or the query-era
code (``InvalidParameterValue``): see ``compat``.
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


def throttling(message: str = "Rate exceeded") -> AwsError:
    """AWS's answer to more concurrent work than it takes: every SDK retries it with back-off."""
    return AwsError("ThrottlingException", message)


def server_error(message: str = "An internal error occurred.") -> AwsError:
    return AwsError("ServerException", message, status=500)


# Authentication answers, as AWS JSON services (Coral: ECS, DynamoDB, CloudWatch Logs) send them.
# Every one is HTTP 400: unlike the Query services (403 for InvalidClientTokenId), the JSON
# services answer authentication failures with 400, e.g. ECS's "UnrecognizedClientException ...
# status code: 400" that every SDK prints for a wrong key.

SIGNATURE_MISMATCH_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)


def missing_authentication() -> AwsError:
    return AwsError("MissingAuthenticationTokenException", "Missing Authentication Token")


def incomplete_signature(message: str) -> AwsError:
    return AwsError("IncompleteSignatureException", message)


def unrecognized_client() -> AwsError:
    return AwsError("UnrecognizedClientException", "The security token included in the request is invalid.")


def invalid_signature(message: str = SIGNATURE_MISMATCH_MESSAGE) -> AwsError:
    return AwsError("InvalidSignatureException", message)


def request_too_large(limit: int) -> AwsError:
    # Coral answers an oversized body with 413 before reading it; botocore maps the code.
    return AwsError(
        "RequestEntityTooLargeException", f"Request body must not exceed {limit} bytes.", status=413
    )
